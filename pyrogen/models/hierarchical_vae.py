r"""Hierarchical VAE with L stochastic layers (Burda et al. 2016, sec. 5; the seeds' HVAE).

Generative model, top-down, ``z1`` nearest the data::

    p(x, z_1..z_L) = p(z_L) prod_{i<L} p(z_i | z_{i+1}) p(x | z_1),   p(z_L) = N(0, I),

inference network, bottom-up::

    q(z_1..z_L | x) = q(z_1 | x) prod_{i>1} q(z_i | z_{i-1})      (``inference="chain"``),
    q(z_1..z_L | x) = prod_i q(z_i | x)                            (``inference="factorized"``),

where the factorized form feeds the deterministic features of layer i-1 (not the sample) to
layer i, the seeds' q(z_1..z_L|x) = prod q(z_i|x). The ELBO decomposes as
E_q log p(x|z_1) - sum_i E_{q(z_{i+1}|x)} KL(q(z_i|x) || p(z_i|z_{i+1})).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn import MLP, activation
from pyrogen.validation import (
    check_num_samples,
    check_observations,
    check_sizes,
    check_x_shape,
    parameter_dtype,
)

INFERENCE = ("chain", "factorized")


class GaussianLayer(nn.Module):
    """MLP trunk with (loc, scale) heads: ``(..., in_dim) -> ((..., out), (..., out))``."""

    def __init__(
        self, in_dim: int, hidden: Sequence[int], out_dim: int, act: str, min_scale: float
    ):
        super().__init__()
        hidden = tuple(hidden)
        self.trunk = (
            nn.Sequential(MLP(in_dim, hidden[:-1], hidden[-1], act), activation(act))
            if hidden
            else nn.Identity()
        )
        width = hidden[-1] if hidden else in_dim
        self.loc = nn.Linear(width, out_dim)
        self.scale = nn.Linear(width, out_dim)
        self.min_scale = min_scale

    def features(self, h: torch.Tensor) -> torch.Tensor:
        return self.trunk(h)

    def heads(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loc(f), F.softplus(self.scale(f)) + self.min_scale

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.features(h))


def default_hidden(z_dims: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """The IWAE paper's deterministic layers: 2x200 for one stochastic layer; for more, two
    layers twice as wide as the stochastic layer they feed (x-200-200-z1(100)-100-100-z2(50),
    ``hidden_units_q`` of the authors' code, github.com/yburda/iwae)."""
    if len(z_dims) == 1:
        return ((200, 200),)
    return tuple((2 * d, 2 * d) for d in z_dims)


class HierarchicalVAE(PyroModel):
    r"""VAE with a Markov chain of Gaussian latent layers ``z1`` (bottom) to ``zL`` (top).

    The decoder mirrors the encoder: p(z_i | z_{i+1}) uses the deterministic widths of layer
    i+1 reversed, p(x | z_1) those of layer 1 reversed (the IWAE paper's architectures).

    Args:
        x_shape: shape of one observation, e.g. ``(1, 28, 28)``.
        z_dims: sizes of the stochastic layers, ``z1`` first.
        hidden: deterministic widths per stochastic layer (a sequence of sequences, ``z1``'s
            first), or one flat sequence used for every layer; default :func:`default_hidden`.
        likelihood: ``"bernoulli"``, ``"continuous_bernoulli"``, ``"gaussian"`` or a
            :class:`~pyrogen.models.likelihoods.Likelihood`.
        act: activation name (``"tanh"`` in the paper).
        inference: ``"chain"`` (q(z_i | z_{i-1}), Burda et al.) or ``"factorized"``
            (q(z_i | x) from deterministic features).
        min_scale: floor added to every standard deviation.

    Every network acts on the trailing dimension only, so the model and guide broadcast over
    any leading particle dimensions (as :class:`~pyrogen.objectives.IWAE_ELBO` and
    :func:`~pyrogen.metrics.log_likelihood` need).

    Example:
        >>> import torch
        >>> from pyrogen.models import HierarchicalVAE
        >>> m = HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,))
        >>> [tuple(loc.shape) for loc, _ in m.encode(torch.zeros(5, 1, 8, 8))]
        [(5, 6), (5, 3)]
        >>> m.sample(2).shape
        torch.Size([2, 1, 8, 8])

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016,
        sec. 5 (architectures) and eq. (8). https://arxiv.org/abs/1509.00519

        Ladder Variational Autoencoders, C. K. Sønderby, T. Raiko, L. Maaløe, S. K. Sønderby,
        O. Winther, 2016, eq. (1)-(3) (the top-down generative model).
        https://arxiv.org/abs/1602.02282
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int = (1, 28, 28),
        z_dims: Sequence[int] = (100, 50),
        hidden: Sequence[Sequence[int]] | Sequence[int] | None = None,
        likelihood: str | Likelihood = "bernoulli",
        act: str = "tanh",
        inference: str = "chain",
        min_scale: float = 1e-4,
    ):
        super().__init__()
        self.x_shape = check_x_shape(x_shape)
        self.z_dims = check_sizes(z_dims, "z_dims")
        if inference not in INFERENCE:
            raise ValueError(f"unknown inference {inference!r}; expected one of {INFERENCE}")
        self.hidden = _per_layer(hidden, self.z_dims)
        self.inference = inference
        self.likelihood = get_likelihood(likelihood)
        self.min_scale = min_scale
        x_dim = int(torch.Size(self.x_shape).numel())
        self.encoders = nn.ModuleList()
        width = x_dim
        for h, d in zip(self.hidden, self.z_dims):
            self.encoders.append(GaussianLayer(width, h, d, act, min_scale))
            # chain: layer i+1 reads z_i; factorized: it reads layer i's deterministic features
            width = d if inference == "chain" else (h[-1] if h else width)
        # p(z_i | z_{i+1}) for i < L, z1's first
        self.priors = nn.ModuleList(
            GaussianLayer(
                self.z_dims[i + 1], tuple(reversed(self.hidden[i + 1])), d, act, min_scale
            )
            for i, d in enumerate(self.z_dims[:-1])
        )
        p = self.likelihood.params_per_value
        self.decoder_net = MLP(self.z_dims[0], tuple(reversed(self.hidden[0])), p * x_dim, act)

    # -- networks -------------------------------------------------------------------------
    @property
    def event_dim(self) -> int:
        return len(self.x_shape)

    @property
    def num_layers(self) -> int:
        return len(self.z_dims)

    def layers(self) -> list[GaussianLayer]:
        """The bottom-up encoder layers, ``z1``'s first."""
        return [cast(GaussianLayer, m) for m in self.encoders]

    def _weight(self) -> torch.Tensor:
        # z's draws take the device and dtype of the networks
        return next(self.decoder_net.parameters())

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[: x.dim() - self.event_dim], -1)

    def encode(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        r"""(loc, scale) of each layer's q, ``z1`` first: ``(B, *x_shape) -> [((B, d_i),) * 2]``.

        For ``inference="chain"``, layer i > 1 is evaluated at the mean of layer i-1 (the
        plug-in value; the exact E_q[z_i] averages over z_{i-1}, see
        :func:`pyrogen.metrics.active_units`).
        """
        h = self._flat(x)
        out = []
        for enc in self.layers():
            f = enc.features(h)
            loc, scale = enc.heads(f)
            out.append((loc, scale))
            h = loc if self.inference == "chain" else f
        return out

    def decode(self, z1: torch.Tensor) -> torch.Tensor:
        """Raw likelihood parameters of p(x | z1): ``(..., d_1) -> (..., P * C, H, W)``."""
        out = self.decoder_net(z1)
        lead = self.x_shape[0] * self.likelihood.params_per_value
        return out.reshape(*out.shape[:-1], lead, *self.x_shape[1:])

    # -- Pyro model and guide ---------------------------------------------------------------
    def check_x(self, x: torch.Tensor) -> None:
        """Shape always; dtype, finiteness and support when Pyro validation is enabled."""
        check_observations(x, self.x_shape, parameter_dtype(self), self.likelihood.check_support)

    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is not None:
            self.check_x(x)
        batch = 1 if x is None else x.shape[0]
        top = self._weight().new_zeros(self.z_dims[-1])
        with pyro.plate("data", batch):
            z = pyro.sample(f"z{self.num_layers}", dist.Normal(top, 1.0).to_event(1))
            for i in reversed(range(self.num_layers - 1)):
                loc, scale = self.priors[i](z)
                z = pyro.sample(f"z{i + 1}", dist.Normal(loc, scale).to_event(1))
            params = self.decode(z)
            return pyro.sample("x", self.likelihood.dist(params, self.event_dim), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        if x is None:
            raise ValueError("the guide q(z | x) needs observations x, got None")
        self.check_x(x)
        h = self._flat(x)
        zs = []
        with pyro.plate("data", x.shape[0]):
            for i, enc in enumerate(self.layers()):
                f = enc.features(h)
                loc, scale = enc.heads(f)
                z = pyro.sample(f"z{i + 1}", dist.Normal(loc, scale).to_event(1))
                zs.append(z)
                h = z if self.inference == "chain" else f
        return zs

    # -- conveniences ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples: int, mean: bool = False) -> torch.Tensor:
        """Draws ``(num_samples, *x_shape)`` from p(x); ``mean=True`` gives E[x | z1] instead."""
        check_num_samples(num_samples)
        w = self._weight()
        z = torch.randn(num_samples, self.z_dims[-1], device=w.device, dtype=w.dtype)
        for i in reversed(range(self.num_layers - 1)):
            loc, scale = self.priors[i](z)
            z = loc + scale * torch.randn_like(loc)
        params = self.decode(z)
        if mean:
            return self.likelihood.mean(params, self.event_dim)
        return self.likelihood.dist(params, self.event_dim).sample()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x | z1 = mean of q(z1 | x)], shaped like ``x``."""
        loc, _ = self.encode(x)[0]
        return self.likelihood.mean(self.decode(loc), self.event_dim)


def _per_layer(
    hidden: Sequence[Sequence[int]] | Sequence[int] | None, z_dims: tuple[int, ...]
) -> tuple[tuple[int, ...], ...]:
    if hidden is None:
        return default_hidden(z_dims)
    items = list(hidden)
    if all(isinstance(h, int) for h in items):
        flat = check_sizes(items, "hidden", allow_empty=True)
        return tuple(flat for _ in z_dims)
    if len(items) != len(z_dims) or any(isinstance(h, int) for h in items):
        raise ValueError(
            f"hidden must be one sequence of ints or one per stochastic layer "
            f"({len(z_dims)}), got {hidden}"
        )
    return tuple(check_sizes(h, f"hidden[{i}]", allow_empty=True) for i, h in enumerate(items))
