r"""Per-position likelihoods of autoregressive models: p(x_d | x_<d) = head(params_d).

An autoregressive network emits ``P`` raw parameters for every position; a head turns them
into a one-dimensional distribution. Parameters arrive flattened as ``(N, P, D)`` and data
as ``(N, D)``; ``log_prob`` returns ``(N, D)``. Sampling is written as a deterministic map
of pre-drawn noise (``draw_noise`` then ``sample``), so that two generation paths (the naive
re-evaluation and the cached incremental one) given the same noise produce the same values.
"""

from __future__ import annotations

import abc
import math

import torch
import torch.nn.functional as F
from torch.distributions import constraints

from pyrogen.validation import check_binary, check_finite


class ARHead(abc.ABC):
    """Base class of the per-position likelihoods."""

    name = "base"
    num_params = 1
    noise_dim = 1

    @property
    @abc.abstractmethod
    def support(self) -> constraints.Constraint:
        """Support of one position's value."""

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

    def check_support(self, x: torch.Tensor) -> None:
        """Raises ``ValueError`` when ``x`` lies outside the support (default: any finite)."""
        check_finite(x)

    def input_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Data mapped to about [-1, 1] before it enters a network (identity by default)."""
        return x


class BernoulliHead(ARHead):
    """p(x_d = 1 | x_<d) = sigmoid(logit_d); one parameter per position."""

    name = "bernoulli"
    num_params = 1

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

    def check_support(self, x: torch.Tensor) -> None:
        check_binary(x)

    def input_scale(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1


class CategoricalHead(ARHead):
    """p(x_d = k | x_<d) = softmax(logits_d)_k over values 0..K-1; sampled by inverse CDF."""

    name = "categorical"

    def __init__(self, num_classes: int = 256):
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.num_params = num_classes

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


class GaussianHead(ARHead):
    r"""p(x_d | x_<d) = N(mu_d, sigma_d^2) with parameters (mu, raw) per position.

    ``scale="softplus"``: sigma = softplus(raw) + min_scale (stable for deep networks);
    ``scale="exp"``: sigma = exp(raw) (the natural parametrization of a linear AR process).
    """

    name = "gaussian"
    num_params = 2

    def __init__(self, scale: str = "softplus", min_scale: float = 1e-3):
        if scale not in ("softplus", "exp"):
            raise ValueError(f"scale must be 'softplus' or 'exp', got {scale!r}")
        self.scale = scale
        self.min_scale = min_scale

    @property
    def support(self) -> constraints.Constraint:
        return constraints.real

    def loc_scale(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma) from raw parameters ``(N, 2, ...)``: each ``(N, ...)``."""
        loc, raw = params[:, 0], params[:, 1]
        if self.scale == "exp":
            return loc, raw.exp()
        return loc, F.softplus(raw) + self.min_scale

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


def get_head(name: str | ARHead, **kwargs: object) -> ARHead:
    """A head from its name (``bernoulli``, ``categorical``, ``gaussian``,
    ``discretized_logistic``) or an instance passed through."""
    if isinstance(name, ARHead):
        return name
    from pyrogen.models.discretized_logistic import DiscretizedLogisticMixture

    heads: dict[str, type[ARHead]] = {
        "bernoulli": BernoulliHead,
        "categorical": CategoricalHead,
        "gaussian": GaussianHead,
        "discretized_logistic": DiscretizedLogisticMixture,
    }
    if name not in heads:
        raise ValueError(f"unknown likelihood {name!r}; expected one of {sorted(heads)}")
    return heads[name](**kwargs)
