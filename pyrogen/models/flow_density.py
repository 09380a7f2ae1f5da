r"""Flow density model ``x = f(z)``, ``z ~ N(0, I)``, trained by maximum likelihood:

    log p(x) = log N(f^{-1}(x); 0, I) + log |det d f^{-1}(x) / dx|.

For discrete images (``dequantize=K`` levels) the model observes ``y = x (K - 1) + u``,
``u ~ U[0, 1)^D``, whose density lower-bounds the probability of the pixel values:
``log P(x) >= E_u log p(y)``; the flow ends with ``y = K sigmoid(.)`` so its support is the
cube (0, K)^D, and bits/dim is ``-log p(y) / (D log 2)``.

References:
    Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015, eq. (6).
    https://arxiv.org/abs/1505.05770
    Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
    section 4.1 (dequantization, logit space, bits/dim). https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import pyro_method
from torch import nn
from torch.distributions import transforms as tt

from pyrogen.models.base import PyroModel
from pyrogen.transforms import ActNorm, AffineAutoregressive, AffineCoupling, Planar, Radial
from pyrogen.validation import (
    check_num_samples,
    check_observations,
    check_positive_int,
    check_unit_interval,
    check_x_shape,
)

FLOWS = ("maf", "iaf", "realnvp", "nice", "planar", "radial")


def make_flow(kind: str, dim: int, num_layers: int, hidden: Sequence[int]) -> list[nn.Module]:
    """``num_layers`` transforms of one family on R^dim, alternating the conditioning order."""
    if kind not in FLOWS:
        raise ValueError(f"unknown flow {kind!r}; expected one of {FLOWS}")
    layers: list[nn.Module] = []
    natural = torch.arange(1, dim + 1)
    for k in range(num_layers):
        if kind in ("maf", "iaf"):
            order = natural if k % 2 == 0 else natural.flip(0)
            layers.append(AffineAutoregressive(dim, hidden, direction=kind, order=order))
        elif kind in ("realnvp", "nice"):
            mode = "affine" if kind == "realnvp" else "additive"
            layers.append(AffineCoupling(dim, hidden, mode=mode, swap=k % 2 == 1))
        else:
            layers.append(Planar(dim) if kind == "planar" else Radial(dim))
    return layers


class FlowDensity(PyroModel):
    r"""A stack of transforms over a standard normal base, observed at site ``"x"``.

    Args:
        x_shape: shape of one observation, e.g. ``(2,)`` or ``(1, 8, 8)``.
        flow: family of the default stack, one of ``FLOWS``.
        num_layers: number of transforms in the default stack.
        hidden: hidden sizes of the conditioner networks.
        transforms: a custom list of transforms on R^D (overrides ``flow``), base to data.
        dequantize: number of levels K of discrete data in [0, 1] (e.g. 256 for 8-bit
            images, 2 for binary), or ``None`` for continuous data.

    Example:
        >>> import torch, pyro
        >>> from pyrogen.models import FlowDensity
        >>> _ = torch.manual_seed(0)
        >>> m = FlowDensity((2,), flow="realnvp", num_layers=2, hidden=(8,))
        >>> m.log_prob(torch.zeros(3, 2)).shape, m.sample(4).shape
        (torch.Size([3]), torch.Size([4, 2]))

    References:
        Masked Autoregressive Flow for Density Estimation, G. Papamakarios, T. Pavlakou,
        I. Murray, 2017, eq. (1). https://arxiv.org/abs/1705.07057
        Density estimation using Real NVP, L. Dinh et al., 2016, eq. (3).
        https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int = (2,),
        flow: str = "maf",
        num_layers: int = 5,
        hidden: Sequence[int] = (64, 64),
        transforms: Sequence[nn.Module] | None = None,
        dequantize: int | None = None,
    ):
        super().__init__()
        self.x_shape = check_x_shape(x_shape)
        self.dim = int(torch.Size(self.x_shape).numel())
        if transforms is None:
            check_positive_int(num_layers, "num_layers")
        if dequantize is not None and dequantize < 2:
            raise ValueError(f"dequantize must be a number of levels >= 2, got {dequantize}")
        self.dequantize = dequantize
        layers = make_flow(flow, self.dim, num_layers, hidden) if transforms is None else transforms
        if transforms is None and dequantize is not None:
            # Logit-space pixels span ~[-20, 6] with very different spreads per pixel; a
            # data-initialized ActNorm next to the data standardizes them before the first
            # autoregressive layer (as Glow does), which keeps early steps from exploding.
            layers = [*layers, ActNorm(self.dim)]
        self.flows = nn.ModuleList(layers)
        self.register_buffer("_zero", torch.zeros(()))

    def distribution(self) -> dist.TransformedDistribution:
        """p(x) (p(y) of dequantized values when ``dequantize`` is set), event ``x_shape``."""
        # The distribution reads the parameters at each call, so it can be reused while the
        # module stays on the same device and dtype (building it costs more than a small
        # batch's log_prob).
        key = (self._zero.device, self._zero.dtype, tuple(id(f) for f in self.flows))
        cached = self.__dict__.get("_distribution")
        if cached is not None and cached[0] == key:
            return cached[1]
        base = dist.Normal(self._zero.expand(self.dim), 1.0).to_event(1)
        parts: list[tt.Transform] = list(self.flows)  # type: ignore[arg-type]
        if self.dequantize is not None:
            parts += [tt.SigmoidTransform(), tt.AffineTransform(0.0, float(self.dequantize), 1)]
        if len(self.x_shape) != 1:
            parts.append(tt.ReshapeTransform(torch.Size((self.dim,)), torch.Size(self.x_shape)))
        d = dist.TransformedDistribution(base, parts)
        self.__dict__["_distribution"] = (key, d)
        return d

    def check_x(self, x: torch.Tensor) -> None:
        support = check_unit_interval if self.dequantize is not None else None
        check_observations(x, self.x_shape, self._zero.dtype, support)

    def dequantized(self, x: torch.Tensor) -> torch.Tensor:
        """``y = x (K - 1) + u``, ``u ~ U[0, 1)``: continuous values in [0, K)."""
        assert self.dequantize is not None
        # Keep u off 0 so the sigmoid end of the flow never meets the boundary of (0, K).
        u = torch.rand_like(x).clamp(1e-6, 1 - 1e-6)
        return x * (self.dequantize - 1) + u

    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is not None:
            self.check_x(x)
            if self.dequantize is not None:
                x = self.dequantized(x)
        with pyro.plate("data", 1 if x is None else x.shape[0]):
            return pyro.sample("x", self.distribution(), obs=x)

    def guide(self, x: torch.Tensor | None = None) -> None:
        """Fully observed: nothing to infer, so SVI with this guide is maximum likelihood."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) per example ``(B,)``; with ``dequantize``, a one-sample estimate of the
        lower bound E_u log p(x (K - 1) + u) on log P(x)."""
        self.check_x(x)
        if self.dequantize is not None:
            x = self.dequantized(x)
        return self.distribution().log_prob(x)

    def bits_per_dim(self, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        """``-log p / (D log 2)`` per example, averaged over ``num_samples`` dequantizations."""
        lp = torch.stack([self.log_prob(x) for _ in range(num_samples)]).mean(0)
        return -lp / (self.dim * math.log(2))

    @torch.no_grad()
    def sample(self, num_samples: int) -> torch.Tensor:
        """``(num_samples, *x_shape)`` draws; discrete levels in [0, 1] with ``dequantize``."""
        y = self.distribution().sample((check_num_samples(num_samples),))
        if self.dequantize is None:
            return y
        return (y.floor().clamp(0, self.dequantize - 1)) / (self.dequantize - 1)
