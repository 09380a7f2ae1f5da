r"""Invertible 1x1 convolution with an LU-parameterized weight (Glow).

``y[:, h, w] = W x[:, h, w]`` for every pixel, with
``W = P L (U + diag(sign(s) exp(log|s|)))`` (P a fixed permutation, L unit lower triangular,
U strictly upper triangular), so ``log |det dy/dx| = H W sum log|s|`` costs O(C) instead of
O(C^3).

References:
    Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal, 2018,
    eqs. (9)-(10) (LU decomposition). https://arxiv.org/abs/1807.03039
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import constraints

from pyrogen.transforms.base import FlowTransform


class InvertibleConv1x1(FlowTransform):
    r"""Channel mixing ``y = W x`` at every pixel of ``(..., C, H, W)`` images.

    W starts as a random rotation, stored by its LU factors.

    Args:
        channels: C.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import InvertibleConv1x1
        >>> _ = torch.manual_seed(0)
        >>> f = InvertibleConv1x1(3)
        >>> x = torch.randn(2, 3, 4, 4)
        >>> bool(torch.allclose(f.inv(f(x).clone()), x, atol=1e-5))
        True

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal,
        2018, eq. (10). https://arxiv.org/abs/1807.03039
    """

    domain = constraints.independent(constraints.real, 3)
    codomain = constraints.independent(constraints.real, 3)
    bijective = True

    def __init__(self, channels: int, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.channels = channels
        q = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_abs_s = nn.Parameter(s.abs().log())

    def weight(self) -> torch.Tensor:
        """The ``(C, C)`` matrix W assembled from its LU factors."""
        eye = torch.eye(self.channels, dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign_s * self.log_abs_s.exp())
        return self.perm @ lower @ upper

    def _check(self, v: torch.Tensor) -> None:
        if v.dim() < 3 or v.shape[-3] != self.channels:
            raise ValueError(
                f"InvertibleConv1x1({self.channels}) expects (..., {self.channels}, H, W), "
                f"got {tuple(v.shape)}"
            )

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return torch.einsum("ij,...jhw->...ihw", self.weight(), x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        return torch.einsum("ij,...jhw->...ihw", torch.linalg.inv(self.weight()), y)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        hw = x.shape[-1] * x.shape[-2]
        return (self.log_abs_s.sum() * hw).expand(x.shape[:-3])
