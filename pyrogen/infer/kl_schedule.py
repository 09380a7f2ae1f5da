r"""ELBOs with a re-weighted or clamped KL term: KL warm-up, beta < 1, and free bits.

    AnnealedELBO:  E_q log p(x | z) - beta_t KL(q(z | x) || p(z)),
                   beta_t rising linearly from ``beta_start`` to ``beta_end`` over
                   ``warmup_steps`` training steps (beta_t = ``beta_end`` < 1 with no warm-up);
    FreeBitsELBO:  E_q log p(x | z) - sum_j max(lambda, E_batch KL_j),

both counter posterior collapse: early on the KL's pull towards the prior is weakened, and
units whose average KL is under lambda nats cost nothing more to use.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import torch
from pyro.infer import ELBO

from pyrogen.infer.analytic_kl import ELBOTerms, elbo_terms


class _KLPenalizedELBO(ELBO):
    """Shared plumbing: ``differentiable_loss = -(sum_b log_lik - penalty(kl))``."""

    is_bound = False  # a reweighted or clamped KL: -loss is not a bound on log p(x)

    def __init__(self) -> None:
        super().__init__(num_particles=1)
        self.num_steps = 0

    def state_dict(self) -> dict[str, int]:
        """The schedule's position, saved with checkpoints for exact resumption."""
        return {"num_steps": self.num_steps}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.num_steps = int(state["num_steps"])

    @abc.abstractmethod
    def penalty(self, terms: ELBOTerms) -> torch.Tensor:
        """The KL part of the loss, summed over the batch; subclasses define it."""

    def _get_trace(self, model: Any, guide: Any, args: Any, kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} computes its terms with pyrogen.infer.analytic_kl.elbo_terms"
        )

    def differentiable_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        terms = elbo_terms(model, guide, *args, **kwargs)
        loss = -(terms.log_lik.sum() - self.penalty(terms))
        # Only gradient-enabled calls are training steps; evaluation must not advance beta.
        if torch.is_grad_enabled():
            self.num_steps += 1
        return loss

    def loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())


class AnnealedELBO(_KLPenalizedELBO):
    r"""-(E_q log p(x | z) - beta_t KL), with a linear KL warm-up and a final beta.

    Args:
        warmup_steps: training steps over which beta rises from ``beta_start`` to
            ``beta_end`` (0: constant ``beta_end``).
        beta_start: beta at step 0.
        beta_end: beta after warm-up; ``beta_end < 1`` is the beta < 1 remedy.

    Example:
        >>> from pyrogen.infer.kl_schedule import AnnealedELBO
        >>> loss = AnnealedELBO(warmup_steps=4)
        >>> loss.beta
        0.0
        >>> loss.num_steps = 2; loss.beta
        0.5

    References:
        Generating Sentences from a Continuous Space, S. R. Bowman, L. Vilnis, O. Vinyals,
        A. M. Dai, R. Jozefowicz, S. Bengio, 2016, sec. 3.1 (KL annealing).
        https://arxiv.org/abs/1511.06349
        Ladder Variational Autoencoders, C. K. Sonderby, T. Raiko, L. Maaloe, S. K. Sonderby,
        O. Winther, 2016, sec. 2.3 (warm-up). https://arxiv.org/abs/1602.02282
    """

    def __init__(self, warmup_steps: int = 10_000, beta_start: float = 0.0, beta_end: float = 1.0):
        super().__init__()
        if warmup_steps < 0 or beta_start < 0 or beta_end < 0:
            raise ValueError(
                f"warmup_steps, beta_start, beta_end must be >= 0, got "
                f"{warmup_steps}, {beta_start}, {beta_end}"
            )
        self.warmup_steps = warmup_steps
        self.beta_start = beta_start
        self.beta_end = beta_end

    @property
    def beta(self) -> float:
        """The KL weight at the current step."""
        if self.warmup_steps == 0 or self.num_steps >= self.warmup_steps:
            return self.beta_end
        frac = self.num_steps / self.warmup_steps
        return self.beta_start + frac * (self.beta_end - self.beta_start)

    def penalty(self, terms: ELBOTerms) -> torch.Tensor:
        return self.beta * terms.total_kl.sum()


class FreeBitsELBO(_KLPenalizedELBO):
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

    def penalty(self, terms: ELBOTerms) -> torch.Tensor:
        total = terms.log_lik.new_zeros(())
        batch = terms.log_lik.shape[0]
        for kl in terms.kl.values():
            per_unit = (
                kl.reshape(kl.shape[0], -1).mean(0) if kl.dim() > 1 else kl.mean(0, keepdim=True)
            )
            total = total + batch * per_unit.clamp_min(self.free_bits).sum()
        return total
