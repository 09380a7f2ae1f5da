r"""Observation models p(x | z) for the decoders: the decoder emits raw parameters per pixel.

Each likelihood says how many raw parameters it needs per data value
(``params_per_value``), builds the distribution from the decoder's output, checks that data
lie in its support, and gives the mean used for plots.
"""

from __future__ import annotations

import abc

import pyro.distributions as dist
import torch
import torch.nn.functional as F

from pyrogen.validation import check_binary, check_unit_interval


class Likelihood(abc.ABC):
    """Base class: maps decoder outputs ``(..., P * C, H, W)`` or ``(..., P * D)`` to p(x|z)."""

    name = "base"
    params_per_value = 1

    @abc.abstractmethod
    def dist(self, params: torch.Tensor, event_dim: int) -> dist.TorchDistribution:
        """p(x | z) with ``event_dim`` trailing event dimensions."""

    @abc.abstractmethod
    def mean(self, params: torch.Tensor, event_dim: int) -> torch.Tensor:
        """E[x | z], shaped like the data."""

    def check_support(self, x: torch.Tensor) -> None:  # noqa: B027 (optional hook)
        """Raises ``ValueError`` if ``x`` is outside the support (default: any real)."""

    def marginal_params(self, x: torch.Tensor) -> torch.Tensor | None:
        """Raw parameters, shaped like one decoder output ``(P * C, ...)``, under which every
        value follows its marginal over the examples ``x`` ``(N, C, ...)`` (moment-matched);
        ``None`` where the likelihood has no such closed form. A decoder whose output bias
        starts there begins training at the per-value marginal model instead of spending its
        first steps getting there (as in the IWAE authors' code, Burda et al. 2016)."""
        return None


class Bernoulli(Likelihood):
    """Bernoulli pixels with logits from the decoder; data must be exactly 0 or 1."""

    name = "bernoulli"

    def dist(self, params: torch.Tensor, event_dim: int) -> dist.TorchDistribution:
        return dist.Bernoulli(logits=params, validate_args=False).to_event(event_dim)

    def mean(self, params: torch.Tensor, event_dim: int) -> torch.Tensor:
        return torch.sigmoid(params)

    def check_support(self, x: torch.Tensor) -> None:  # noqa: B027 (optional hook)
        check_binary(x)

    def marginal_params(self, x: torch.Tensor) -> torch.Tensor:
        """logit(p), p the mean of each value over the examples, clamped to [1e-3, 1 - 1e-3]
        (a value that is always 0 would otherwise start at an infinite logit)."""
        p = x.mean(0).clamp(1e-3, 1 - 1e-3)
        return torch.log(p) - torch.log1p(-p)


class ContinuousBernoulli(Likelihood):
    r"""Continuous Bernoulli on [0, 1] (Loaiza-Ganem & Cunningham, 2019).

    p(x | \lambda) = C(\lambda) \lambda^x (1 - \lambda)^{1 - x}, the properly normalized
    version of the Bernoulli likelihood applied to grey levels.

    References:
        The continuous Bernoulli: fixing a pervasive error in variational autoencoders,
        G. Loaiza-Ganem, J. P. Cunningham, 2019, eq. (7). https://arxiv.org/abs/1907.06845
    """

    name = "continuous_bernoulli"

    def dist(self, params: torch.Tensor, event_dim: int) -> dist.TorchDistribution:
        return dist.ContinuousBernoulli(logits=params, validate_args=False).to_event(event_dim)

    def mean(self, params: torch.Tensor, event_dim: int) -> torch.Tensor:
        return dist.ContinuousBernoulli(logits=params, validate_args=False).mean

    def check_support(self, x: torch.Tensor) -> None:  # noqa: B027 (optional hook)
        check_unit_interval(x)


class Gaussian(Likelihood):
    r"""Gaussian with a learned per-value variance: the decoder emits (loc, raw scale).

    scale = softplus(raw) + ``min_scale``; the floor keeps the density bounded on data with
    constant pixels, where the maximum-likelihood variance would otherwise collapse to 0.
    """

    name = "gaussian"
    params_per_value = 2

    def __init__(self, min_scale: float = 1e-3):
        self.min_scale = min_scale

    def _split(self, params: torch.Tensor, event_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        # The parameter axis is the first event axis: channels for images, features for vectors.
        axis = params.dim() - event_dim
        loc, raw = params.chunk(2, dim=axis)
        return loc, F.softplus(raw) + self.min_scale

    def dist(self, params: torch.Tensor, event_dim: int) -> dist.TorchDistribution:
        loc, scale = self._split(params, event_dim)
        return dist.Normal(loc, scale, validate_args=False).to_event(event_dim)

    def mean(self, params: torch.Tensor, event_dim: int) -> torch.Tensor:
        return self._split(params, event_dim)[0]

    def marginal_params(self, x: torch.Tensor) -> torch.Tensor:
        """(loc, raw) with loc the mean of each value and softplus(raw) + ``min_scale`` its
        standard deviation (at least twice the floor), stacked on the channel axis."""
        loc = x.mean(0)
        excess = (x.std(0) - self.min_scale).clamp_min(self.min_scale)
        raw = excess + torch.log(-torch.expm1(-excess))  # softplus^-1
        return torch.cat([loc, raw], dim=0)


LIKELIHOODS: dict[str, type[Likelihood]] = {
    c.name: c for c in (Bernoulli, ContinuousBernoulli, Gaussian)
}


def get_likelihood(name: str | Likelihood) -> Likelihood:
    """Returns a likelihood instance from its name (``bernoulli``, ``continuous_bernoulli``,
    ``gaussian``) or passes an instance through."""
    if isinstance(name, Likelihood):
        return name
    try:
        return LIKELIHOODS[name]()
    except KeyError:
        raise ValueError(
            f"unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)}"
        ) from None
