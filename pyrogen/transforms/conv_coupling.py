r"""Affine coupling over the channels of an image, with a convolutional network (Glow, RealNVP).

Split the channels ``x = (x_a, x_b)``; the conditioning half passes through and the other
half is scaled and shifted, pixel by pixel, by a convolutional network of the first:

    y_a = x_a,   y_b = x_b exp(s(x_a)) + t(x_a)          (affine)
    y_a = x_a,   y_b = x_b + t(x_a)                      (additive: s = 0)

so ``x_b = (y_b - t(y_a)) exp(-s(y_a))`` in one pass and
``log |det dy/dx| = sum_{c, h, w} s(x_a)``. The last convolution of the network starts at
zero, so every coupling starts as the identity (Glow, section 3.3).

References:
    Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal, 2018,
    section 3.3 and table 1 (affine coupling). https://arxiv.org/abs/1807.03039
    Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
    eqs. (4)-(6) and section 3.4 (channel-wise masking). https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import constraints

from pyrogen.nn.mlp import activation
from pyrogen.transforms.base import FlowTransform

_MODES = ("affine", "additive")


class ConvAffineCoupling(FlowTransform):
    r"""Coupling on images ``(..., C, H, W)``: ``y_b = x_b exp(s(x_a)) + t(x_a)``, ``y_a = x_a``.

    ``x_a`` is the first ``C // 2`` channels (the last ones with ``swap``). In Glow a learned
    1x1 convolution before each coupling mixes the channels, so no fixed alternation is
    needed there.

    Args:
        channels: C (at least 2).
        hidden: channels of the network's hidden layers (3x3, 1x1, then a zero-initialized
            3x3 convolution, as in Glow).
        mode: ``"affine"`` or ``"additive"`` (volume preserving).
        swap: condition on the last ``C // 2`` channels and transform the first ones.
        log_scale_bound: B in ``s = B tanh(s_raw / B)``, which keeps every scale in
            ``(e^-B, e^B)``.
        act: activation name of the network.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import ConvAffineCoupling
        >>> _ = torch.manual_seed(0)
        >>> f = ConvAffineCoupling(4, hidden=8)
        >>> x = torch.randn(2, 4, 3, 3)
        >>> torch.equal(f(x), x)  # the zero-initialized last layer: the identity at first
        True

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal,
        2018, table 1 (affine coupling) and section 3.3. https://arxiv.org/abs/1807.03039
        Density estimation using Real NVP, L. Dinh et al., 2016, eq. (6).
        https://arxiv.org/abs/1605.08803
    """

    domain = constraints.independent(constraints.real, 3)
    codomain = constraints.independent(constraints.real, 3)
    bijective = True

    def __init__(
        self,
        channels: int,
        hidden: int = 64,
        mode: str = "affine",
        swap: bool = False,
        log_scale_bound: float = 3.0,
        act: str = "relu",
        cache_size: int = 0,
    ):
        super().__init__(cache_size=cache_size)
        if channels < 2:
            raise ValueError(f"ConvAffineCoupling needs at least 2 channels, got {channels}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if log_scale_bound <= 0:
            raise ValueError(f"log_scale_bound must be > 0, got {log_scale_bound}")
        self.channels, self.mode, self.swap = channels, mode, swap
        self.split = channels // 2
        self.log_scale_bound = log_scale_bound
        n_out = channels - self.split
        last = nn.Conv2d(hidden, (2 if mode == "affine" else 1) * n_out, 3, padding=1)
        for p in last.parameters():
            nn.init.zeros_(p)
        self.net = nn.Sequential(
            nn.Conv2d(self.split, hidden, 3, padding=1),
            activation(act),
            nn.Conv2d(hidden, hidden, 1),
            activation(act),
            last,
        )

    def _check(self, v: torch.Tensor) -> None:
        if v.dim() < 3 or v.shape[-3] != self.channels:
            raise ValueError(
                f"ConvAffineCoupling({self.channels}) expects (..., {self.channels}, H, W), "
                f"got {tuple(v.shape)}"
            )

    def _halves(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditioning half, transformed half)."""
        if self.swap:
            b, a = v.split([self.channels - self.split, self.split], dim=-3)
        else:
            a, b = v.split([self.split, self.channels - self.split], dim=-3)
        return a, b

    def _join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([b, a] if self.swap else [a, b], dim=-3)

    def _shift_log_scale(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        # Convolutions take one batch dimension: (..., c, H, W) -> (N, c, H, W) and back.
        out = self.net(a.reshape(-1, *a.shape[-3:]))
        out = out.reshape(*a.shape[:-3], *out.shape[-3:])
        if self.mode == "additive":
            return out, None
        shift, raw = out.chunk(2, dim=-3)
        bound = self.log_scale_bound
        return shift, bound * torch.tanh(raw / bound)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        a, b = self._halves(x)
        shift, log_scale = self._shift_log_scale(a)
        return self._join(a, b + shift if log_scale is None else b * log_scale.exp() + shift)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        a, b = self._halves(y)
        shift, log_scale = self._shift_log_scale(a)
        return self._join(a, b - shift if log_scale is None else (b - shift) * (-log_scale).exp())

    def inverse_and_log_det(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x = f^{-1}(y)`` and ``log |det dy/dx|`` ``(...,)`` from one network pass (the
        density direction; ``inv`` followed by ``log_abs_det_jacobian`` runs it twice)."""
        self._check(y)
        a, b = self._halves(y)
        shift, log_scale = self._shift_log_scale(a)
        if log_scale is None:
            return self._join(a, b - shift), y.new_zeros(y.shape[:-3])
        x = self._join(a, (b - shift) * (-log_scale).exp())
        return x, log_scale.sum((-3, -2, -1))

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.mode == "additive":
            return x.new_zeros(x.shape[:-3])
        _, log_scale = self._shift_log_scale(self._halves(x)[0])
        assert log_scale is not None
        return log_scale.sum((-3, -2, -1))
