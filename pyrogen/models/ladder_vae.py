r"""Ladder VAE: bottom-up features, top-down inference with precision-weighted merging.

The generative model is :class:`~pyrogen.models.HierarchicalVAE`'s top-down chain. The
inference network first runs a deterministic bottom-up pass d_i = f_i(d_{i-1}), d_0 = x, with
Gaussian heads (mu^_i, sigma^_i), then samples top-down, merging each head with the
generative conditional p(z_i | z_{i+1}) = N(mu_p, sigma_p^2) (Sønderby et al. 2016, eq. 17-19):

    sigma_q^2 = 1 / (sigma^_i^{-2} + sigma_p^{-2}),
    mu_q      = (mu^_i sigma^_i^{-2} + mu_p sigma_p^{-2}) sigma_q^2,
    q(z_L | x) = N(mu^_L, sigma^_L^2),   q(z_i | z_{i+1}, x) = N(mu_q, sigma_q^2).

The inference path shares the top-down networks with the generative model, so the prior
and the posterior talk to each other while training.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import pyro_method

from pyrogen.models.hierarchical_vae import HierarchicalVAE
from pyrogen.models.likelihoods import Likelihood


def precision_weighted(
    loc_a: torch.Tensor, scale_a: torch.Tensor, loc_b: torch.Tensor, scale_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Product of two Gaussians N(a) N(b), normalized: (mu, sigma) with
    sigma^{-2} = sigma_a^{-2} + sigma_b^{-2} and mu = (mu_a sigma_a^{-2} + mu_b sigma_b^{-2})
    sigma^2. Shapes broadcast: ``(..., D)`` each."""
    prec_a, prec_b = scale_a.pow(-2), scale_b.pow(-2)
    var = 1.0 / (prec_a + prec_b)
    return (loc_a * prec_a + loc_b * prec_b) * var, var.sqrt()


class LadderVAE(HierarchicalVAE):
    r"""Ladder variational autoencoder with L Gaussian layers, ``z1`` nearest the data.

    Args:
        x_shape: shape of one observation, e.g. ``(1, 28, 28)``.
        z_dims: sizes of the stochastic layers, ``z1`` first.
        hidden: deterministic widths of each bottom-up step (one sequence per layer, or one
            flat sequence for all); the generative top-down networks mirror them.
        likelihood: observation model, see :class:`~pyrogen.models.HierarchicalVAE`.
        act: activation name.
        min_scale: floor added to every standard deviation.

    Batch normalization and warm-up of the original paper are left to the training loop
    (``beta`` annealing is an objective's choice, not the model's).

    Example:
        >>> import torch
        >>> from pyrogen.models import LadderVAE
        >>> m = LadderVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,))
        >>> [tuple(loc.shape) for loc, _ in m.encode(torch.zeros(5, 1, 8, 8))]
        [(5, 6), (5, 3)]

    References:
        Ladder Variational Autoencoders, C. K. Sønderby, T. Raiko, L. Maaløe, S. K. Sønderby,
        O. Winther, 2016, eq. (17)-(19). https://arxiv.org/abs/1602.02282
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int = (1, 28, 28),
        z_dims: Sequence[int] = (100, 50),
        hidden: Sequence[Sequence[int]] | Sequence[int] | None = None,
        likelihood: str | Likelihood = "bernoulli",
        act: str = "tanh",
        min_scale: float = 1e-4,
    ):
        # the bottom-up pass reads deterministic features: the "factorized" encoders
        super().__init__(x_shape, z_dims, hidden, likelihood, act, "factorized", min_scale)

    def bottom_up(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(mu^_i, sigma^_i) of every layer's bottom-up head, ``z1`` first: ``[(B, d_i)] * 2``."""
        h = self._flat(x)
        heads = []
        for enc in self.layers():
            h = enc.features(h)
            heads.append(enc.heads(h))
        return heads

    def _top_down(
        self, x: torch.Tensor, sample: bool
    ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]:
        heads = self.bottom_up(x)
        params: list[tuple[torch.Tensor, torch.Tensor]] = [heads[-1]]
        loc, scale = heads[-1]
        z = (
            pyro.sample(f"z{self.num_layers}", dist.Normal(loc, scale).to_event(1))
            if sample
            else loc
        )
        zs = [z]
        for i in reversed(range(self.num_layers - 1)):
            loc, scale = precision_weighted(*heads[i], *self.priors[i](z))
            params.append((loc, scale))
            z = pyro.sample(f"z{i + 1}", dist.Normal(loc, scale).to_event(1)) if sample else loc
            zs.append(z)
        return params[::-1], zs[::-1]

    def encode(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(loc, scale) of each layer's q, ``z1`` first, with every z_{i+1} at its mean (the
        plug-in value; :func:`pyrogen.metrics.active_units` averages over z_{i+1} instead)."""
        return self._top_down(x, sample=False)[0]

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        if x is None:
            raise ValueError("the guide q(z | x) needs observations x, got None")
        self.check_x(x)
        with pyro.plate("data", x.shape[0]):
            return self._top_down(x, sample=True)[1]
