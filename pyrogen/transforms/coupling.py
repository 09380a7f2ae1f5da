r"""Coupling layers: NICE (additive) and RealNVP (affine).

Split ``x = (x_a, x_b)``; the conditioning half passes through and the other half is
transformed with a network of the first:

    y_a = x_a,   y_b = x_b exp(s(x_a)) + t(x_a)          (affine, RealNVP)
    y_a = x_a,   y_b = x_b + t(x_a)                      (additive, NICE: s = 0)

The inverse is ``x_b = (y_b - t(y_a)) exp(-s(y_a))`` in one pass, and
``log |det dy/dx| = sum s(x_a)`` (0 for NICE).

References:
    NICE: Non-linear Independent Components Estimation, L. Dinh, D. Krueger, Y. Bengio,
    2014, eq. (4) (additive coupling). https://arxiv.org/abs/1410.8516
    Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
    eqs. (4)-(6). https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions import constraints

from pyrogen.nn.mlp import MLP
from pyrogen.transforms.base import FlowTransform, check_event

_MODES = ("affine", "additive")


class AffineCoupling(FlowTransform):
    r"""Coupling layer on R^D: ``y_b = x_b exp(s(x_a)) + t(x_a)``, ``y_a = x_a``.

    Args:
        dim: D (at least 2).
        hidden: hidden sizes of the network producing ``(s, t)``.
        split: size of the conditioning half ``x_a`` (default ``D // 2``).
        mode: ``"affine"`` (RealNVP) or ``"additive"`` (NICE, volume preserving).
        swap: condition on the *last* ``split`` coordinates and transform the first ones
            (alternate it in a stack so every coordinate gets transformed).
        log_scale_bound: B in ``s = B tanh(s_raw / B)``.
        act: activation name of the network.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import AffineCoupling
        >>> _ = torch.manual_seed(0)
        >>> f = AffineCoupling(4, hidden=(8,))
        >>> x = torch.randn(2, 4)
        >>> torch.equal(f(x)[:, :2], x[:, :2])
        True

    References:
        Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
        eq. (6). https://arxiv.org/abs/1605.08803
        NICE: Non-linear Independent Components Estimation, L. Dinh, D. Krueger, Y. Bengio,
        2014, eq. (4). https://arxiv.org/abs/1410.8516
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (64, 64),
        split: int | None = None,
        mode: str = "affine",
        swap: bool = False,
        log_scale_bound: float = 5.0,
        act: str = "relu",
        cache_size: int = 0,
    ):
        super().__init__(cache_size=cache_size)
        split = dim // 2 if split is None else split
        if not 0 < split < dim:
            raise ValueError(f"need 0 < split < dim, got split={split}, dim={dim}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.dim, self.split, self.mode, self.swap = dim, split, mode, swap
        self.log_scale_bound = log_scale_bound
        n_out = dim - split
        self.net = MLP(split, hidden, (2 if mode == "affine" else 1) * n_out, act)

    def _halves(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditioning half, transformed half)."""
        if self.swap:
            b, a = v.split([self.dim - self.split, self.split], dim=-1)
        else:
            a, b = v.split([self.split, self.dim - self.split], dim=-1)
        return a, b

    def _join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([b, a] if self.swap else [a, b], dim=-1)

    def _shift_log_scale(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.net(a)
        if self.mode == "additive":
            return out, None
        shift, raw = out.chunk(2, dim=-1)
        bound = self.log_scale_bound
        return shift, bound * torch.tanh(raw / bound)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        check_event(x, (self.dim,), "AffineCoupling")
        a, b = self._halves(x)
        shift, log_scale = self._shift_log_scale(a)
        return self._join(a, b + shift if log_scale is None else b * log_scale.exp() + shift)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        check_event(y, (self.dim,), "AffineCoupling")
        a, b = self._halves(y)
        shift, log_scale = self._shift_log_scale(a)
        return self._join(a, b - shift if log_scale is None else (b - shift) * (-log_scale).exp())

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.mode == "additive":
            return x.new_zeros(x.shape[:-1])
        _, log_scale = self._shift_log_scale(self._halves(x)[0])
        assert log_scale is not None
        return log_scale.sum(-1)
