r"""Squeeze ``(C, H, W) -> (4C, H/2, W/2)``: each 2x2 block of pixels becomes 4 channels.

``y[4c + 2i + j, h, w] = x[c, 2h + i, 2w + j]`` for ``i, j`` in ``{0, 1}``. The map only
reorders the entries (a permutation matrix), so ``log |det dy/dx| = 0``. Multi-scale flows
squeeze before each level so that a coupling over channels mixes neighbouring pixels and the
spatial size halves level by level.

References:
    Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
    section 3.6 and Figure 3 (squeezing). https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import constraints

from pyrogen.transforms.base import FlowTransform


def _as_images(v: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``(..., C, H, W)`` as ``(N, C, H, W)`` plus the batch shape ``...`` to restore."""
    batch = tuple(v.shape[:-3])
    return v.reshape(-1, *v.shape[-3:]), batch


class Squeeze(FlowTransform):
    r"""Space to depth ``(..., C, H, W) -> (..., 4C, H/2, W/2)``; the inverse undoes it.

    Volume preserving: ``log |det dy/dx| = 0``. The event shapes of input and output differ
    (same number of entries): see :meth:`forward_shape` and :meth:`inverse_shape`.

    Args:
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import Squeeze
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> y = Squeeze()(x)
        >>> y.shape, y[0, :, 0, 0].tolist()
        (torch.Size([1, 4, 2, 2]), [0.0, 1.0, 4.0, 5.0])

    References:
        Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
        section 3.6. https://arxiv.org/abs/1605.08803
    """

    domain = constraints.independent(constraints.real, 3)
    codomain = constraints.independent(constraints.real, 3)
    bijective = True
    volume_preserving = True

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3 or x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(
                f"Squeeze expects (..., C, H, W) with H and W even, got {tuple(x.shape)}"
            )
        flat, batch = _as_images(x)
        y = F.pixel_unshuffle(flat, 2)
        return y.reshape(*batch, *y.shape[-3:])

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() < 3 or y.shape[-3] % 4:
            raise ValueError(
                f"Squeeze's inverse expects (..., C, H, W) with C divisible by 4, "
                f"got {tuple(y.shape)}"
            )
        flat, batch = _as_images(y)
        x = F.pixel_shuffle(flat, 2)
        return x.reshape(*batch, *x.shape[-3:])

    def forward_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        *batch, c, h, w = shape
        return torch.Size((*batch, 4 * c, h // 2, w // 2))

    def inverse_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        *batch, c, h, w = shape
        return torch.Size((*batch, c // 4, 2 * h, 2 * w))

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[:-3])
