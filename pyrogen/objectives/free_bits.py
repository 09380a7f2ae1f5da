r"""The free-bits ELBO: a KL term clamped from below per latent unit.

    FreeBitsELBO:  E_q log p(x | z) - sum_j max(lambda, E_batch KL_j),

a remedy for posterior collapse: units whose average KL is under lambda nats cost nothing
more to use, so the KL's pull towards the prior stops there. (The re-weighted KL, with a
warm-up or beta < 1, is :class:`~pyrogen.objectives.BetaELBO`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pyrogen.objectives.analytic_kl import elbo_terms
from pyrogen.objectives.penalized_elbo import PenalizedELBO


class FreeBitsELBO(PenalizedELBO):
    r"""-(E_q log p(x | z) - B sum_j max(lambda, (1/B) sum_b KL_bj)), free bits per unit.

    The KL of each latent unit j, averaged over the minibatch, is clamped from below at
    ``free_bits`` nats: a unit using less than that has no gradient pulling it to the prior.

    Args:
        free_bits: lambda, in nats per latent unit.

    References:
        Improved Variational Inference with Inverse Autoregressive Flow, D. P. Kingma,
        T. Salimans, R. Jozefowicz, X. Chen, I. Sutskever, M. Welling, 2016, appendix C
        (the free-bits objective). https://arxiv.org/abs/1606.04934
    """

    def __init__(self, free_bits: float = 0.25):
        super().__init__()
        if free_bits < 0:
            raise ValueError(f"free_bits must be >= 0 nats, got {free_bits}")
        self.free_bits = free_bits

    def penalized_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        terms = elbo_terms(model, guide, *args, **kwargs)
        total = terms.log_lik.new_zeros(())
        batch = terms.log_lik.shape[0]
        for kl in terms.kl.values():
            per_unit = (
                kl.reshape(kl.shape[0], -1).mean(0) if kl.dim() > 1 else kl.mean(0, keepdim=True)
            )
            total = total + batch * per_unit.clamp_min(self.free_bits).sum()
        return -(terms.log_lik.sum() - total)
