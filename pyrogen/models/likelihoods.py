r"""Observation models: raw network outputs turned into p(x | ...), for decoders and for
autoregressive models alike.

A network emits ``params_per_value`` raw parameters for every data value. One likelihood
serves the two ways models read them:

* a **decoder** (VAE, hierarchical VAE, VQ-VAE) emits them stacked on the first event axis,
  ``(..., P * C, H, W)`` or ``(..., P * D)``: :meth:`Likelihood.dist` builds p(x | z) as a
  Pyro distribution, :meth:`Likelihood.mean` gives E[x | z] for plots, and
  :meth:`Likelihood.marginal_params` a starting output bias;
* an **autoregressive** model emits them per position, flattened to ``(N, P, D)`` with data
  ``(N, D)``: :meth:`Likelihood.log_prob` gives log p(x_d | x_<d) ``(N, D)``, and sampling is
  a deterministic map of pre-drawn noise (:meth:`Likelihood.draw_noise`, then
  :meth:`Likelihood.sample`), so that the naive and the cached generation paths given the
  same noise produce the same values.

Each form is a class, :class:`DecoderForm` and :class:`AutoregressiveForm`, and a likelihood
derives from those it has: the continuous Bernoulli has no sampler from noise here, the
categorical and the discretized logistic mixture no decoder form, so :func:`get_likelihood`
refuses them for the other role by name. Every likelihood checks that data lie in its
support.
"""

from __future__ import annotations

import abc
import math
from typing import Literal, overload

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch.distributions import constraints

from pyrogen.validation import check_binary, check_finite, check_unit_interval

ROLES = ("decoder", "autoregressive")


class Likelihood:
    """Base class of the observation models: what both forms share (see the module
    docstring); a likelihood derives from :class:`DecoderForm`, :class:`AutoregressiveForm`
    or both."""

    name = "base"
    params_per_value = 1

    @property
    def support(self) -> constraints.Constraint:
        """Support of one value."""
        return constraints.real

    def check_support(self, x: torch.Tensor) -> None:
        """Raises ``ValueError`` when ``x`` lies outside the support (default: any finite)."""
        check_finite(x)


class DecoderForm(Likelihood, abc.ABC):
    """The decoder form: p(x | z) from a decoder's output ``(..., P * C, H, W)``."""

    @abc.abstractmethod
    def dist(self, params: torch.Tensor, event_dim: int) -> dist.TorchDistribution:
        """p(x | z) with ``event_dim`` trailing event dimensions."""

    @abc.abstractmethod
    def mean(self, params: torch.Tensor, event_dim: int) -> torch.Tensor:
        """E[x | z], shaped like the data."""

    def marginal_params(self, x: torch.Tensor) -> torch.Tensor | None:
        """Raw parameters, shaped like one decoder output ``(P * C, ...)``, under which every
        value follows its marginal over the examples ``x`` ``(N, C, ...)`` (moment-matched);
        ``None`` where the likelihood has no such closed form. A decoder whose output bias
        starts there begins training at the per-value marginal model instead of spending its
        first steps getting there (as in the IWAE authors' code, Burda et al. 2016)."""
        return None


class AutoregressiveForm(Likelihood, abc.ABC):
    """The autoregressive form: per-position conditionals from parameters ``(N, P, D)``,
    scored in one pass and sampled as a deterministic map of pre-drawn noise."""

    noise_dim = 1

    @abc.abstractmethod
    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_d | params_d): ``params (N, P, D)``, ``x (N, D)`` -> ``(N, D)``."""

    @abc.abstractmethod
    def sample(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One draw per row from noise: ``params (N, P)``, ``noise (N, U)`` -> ``(N,)``."""

    def draw_noise(
        self, shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Uniform(0, 1) noise ``(*shape, noise_dim)`` that :meth:`sample` consumes."""
        return torch.rand(*shape, self.noise_dim, device=device, generator=generator)

    def input_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Data mapped to about [-1, 1] before it enters a network (identity by default)."""
        return x


class Bernoulli(DecoderForm, AutoregressiveForm):
    """Bernoulli values with logits from the network; data must be exactly 0 or 1."""

    name = "bernoulli"

    def dist(self, params: torch.Tensor, event_dim: int) -> dist.TorchDistribution:
        return dist.Bernoulli(logits=params, validate_args=False).to_event(event_dim)

    def mean(self, params: torch.Tensor, event_dim: int) -> torch.Tensor:
        return torch.sigmoid(params)

    def marginal_params(self, x: torch.Tensor) -> torch.Tensor:
        """logit(p), p the mean of each value over the examples, clamped to [1e-3, 1 - 1e-3]
        (a value that is always 0 would otherwise start at an infinite logit)."""
        p = x.mean(0).clamp(1e-3, 1 - 1e-3)
        return torch.log(p) - torch.log1p(-p)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.boolean

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(params[:, 0], x, reduction="none")

    def sample(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        # x = 1 iff u < sigmoid(logit), i.e. logit(u) < logit; the comparison is done on the
        # logit scale so that it is exact for saturated probabilities.
        u = noise[:, 0]
        return (torch.log(u) - torch.log1p(-u) < params[:, 0]).to(params.dtype)

    def input_scale(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1

    def check_support(self, x: torch.Tensor) -> None:
        check_binary(x)


class ContinuousBernoulli(DecoderForm):
    r"""Continuous Bernoulli on [0, 1] (Loaiza-Ganem & Cunningham, 2019), a decoder likelihood.

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

    def check_support(self, x: torch.Tensor) -> None:
        check_unit_interval(x)


class Gaussian(DecoderForm, AutoregressiveForm):
    r"""N(mu, sigma^2) with raw parameters (mu, raw) per value.

    ``scale="softplus"``: sigma = softplus(raw) + ``min_scale`` (stable for deep networks;
    the floor keeps the density bounded on data with constant pixels, where the
    maximum-likelihood variance would collapse to 0); ``scale="exp"``: sigma = exp(raw) (the
    natural parametrization of a linear autoregressive process).
    """

    name = "gaussian"
    params_per_value = 2

    def __init__(self, scale: str = "softplus", min_scale: float = 1e-3):
        if scale not in ("softplus", "exp"):
            raise ValueError(f"scale must be 'softplus' or 'exp', got {scale!r}")
        self.scale, self.min_scale = scale, min_scale

    def _sigma(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.exp() if self.scale == "exp" else F.softplus(raw) + self.min_scale

    def _split(self, params: torch.Tensor, event_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        # The parameter axis is the first event axis: channels for images, features for vectors.
        loc, raw = params.chunk(2, dim=params.dim() - event_dim)
        return loc, self._sigma(raw)

    def dist(self, params: torch.Tensor, event_dim: int) -> dist.TorchDistribution:
        loc, scale = self._split(params, event_dim)
        return dist.Normal(loc, scale, validate_args=False).to_event(event_dim)

    def mean(self, params: torch.Tensor, event_dim: int) -> torch.Tensor:
        return self._split(params, event_dim)[0]

    def marginal_params(self, x: torch.Tensor) -> torch.Tensor | None:
        """(loc, raw) with loc the mean of each value and sigma its standard deviation (at
        least twice the floor), stacked on the channel axis (softplus scale only)."""
        if self.scale != "softplus":
            return None
        loc = x.mean(0)
        excess = (x.std(0) - self.min_scale).clamp_min(self.min_scale)
        raw = excess + torch.log(-torch.expm1(-excess))  # softplus^-1
        return torch.cat([loc, raw], dim=0)

    def loc_scale(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma) from per-position raw parameters ``(N, 2, ...)``: each ``(N, ...)``."""
        return params[:, 0], self._sigma(params[:, 1])

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        loc, scale = self.loc_scale(params)
        z = (x - loc) / scale
        return -0.5 * z.square() - scale.log() - 0.5 * math.log(2 * math.pi)

    def draw_noise(
        self, shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None
    ) -> torch.Tensor:
        return torch.randn(*shape, 1, device=device, generator=generator)

    def sample(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        loc, scale = self.loc_scale(params)
        return loc + scale * noise[:, 0]


class Categorical(AutoregressiveForm):
    """p(x_d = k | x_<d) = softmax(logits_d)_k over values 0..K-1, sampled by inverse CDF
    (an autoregressive likelihood)."""

    name = "categorical"

    def __init__(self, num_classes: int = 256):
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.params_per_value = num_classes

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self.num_classes - 1)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logp = params.log_softmax(dim=1)
        return logp.gather(1, x.long().unsqueeze(1)).squeeze(1)

    def sample(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        cdf = params.softmax(dim=-1).cumsum(dim=-1)
        k = (cdf < noise[:, :1]).sum(dim=-1).clamp(max=self.num_classes - 1)
        return k.to(params.dtype)

    def check_support(self, x: torch.Tensor) -> None:
        bad = (x != x.round()) | (x < 0) | (x > self.num_classes - 1)
        if bool(bad.any()):
            raise ValueError(
                f"x must hold integers in [0, {self.num_classes - 1}] for a categorical "
                f"likelihood, but {int(bad.sum())} value(s) do not, e.g. "
                f"{x[bad].flatten()[:3].tolist()}"
            )

    def input_scale(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x / (self.num_classes - 1) - 1


def _registry() -> dict[str, type[Likelihood]]:
    from pyrogen.models.discretized_logistic import DiscretizedLogisticMixture

    kinds = (Bernoulli, ContinuousBernoulli, Gaussian, Categorical, DiscretizedLogisticMixture)
    return {c.name: c for c in kinds}


_FORMS: dict[str, type[Likelihood]] = {"decoder": DecoderForm, "autoregressive": AutoregressiveForm}


@overload
def get_likelihood(
    name: str | Likelihood, role: Literal["decoder"] = ..., **kwargs: object
) -> DecoderForm: ...


@overload
def get_likelihood(
    name: str | Likelihood, role: Literal["autoregressive"], **kwargs: object
) -> AutoregressiveForm: ...


def get_likelihood(name: str | Likelihood, role: str = "decoder", **kwargs: object) -> Likelihood:
    """A likelihood from its name (``bernoulli``, ``continuous_bernoulli``, ``gaussian``,
    ``categorical``, ``discretized_logistic``; ``**kwargs`` to its constructor), or an
    instance passed through, checked to have the form ``role`` needs (``"decoder"`` or
    ``"autoregressive"``)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    form = _FORMS[role]
    kinds = _registry()
    usable = sorted(n for n, c in kinds.items() if issubclass(c, form))
    if isinstance(name, Likelihood):
        likelihood = name
    elif name in kinds:
        likelihood = kinds[name](**kwargs)
    else:
        raise ValueError(f"unknown likelihood {name!r}; expected one of {usable}")
    if not isinstance(likelihood, form):
        raise ValueError(
            f"the {likelihood.name} likelihood has no {role} form; {role} models take "
            f"one of {usable}"
        )
    return likelihood
