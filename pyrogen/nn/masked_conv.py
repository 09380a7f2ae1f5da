r"""Masked 2-D convolution of PixelCNN: out(r, c) sees only pixels before (r, c) in raster order.

The kernel is multiplied by a mask that keeps the rows above the centre, the pixels left of
the centre on the centre row, and at the centre pixel only the allowed channel groups:
with the data's C channels ordered (R before G before B), an input channel of group g_in may
reach an output channel of group g_out at the centre iff g_in < g_out (mask "A", the first
layer: a pixel never sees itself) or g_in <= g_out (mask "B", later layers).

References:
    Pixel Recurrent Neural Networks, A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, 2016,
    Section 3.4 and Figure 4. https://arxiv.org/abs/1601.06759
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def channel_groups(num_channels: int, data_channels: int) -> torch.Tensor:
    """Group (data channel) of each of ``num_channels`` features: contiguous equal blocks."""
    if num_channels % data_channels:
        raise ValueError(
            f"the number of channels ({num_channels}) must be a multiple of the number of "
            f"data channels ({data_channels}) to split them into groups"
        )
    return torch.arange(num_channels) * data_channels // num_channels


class MaskedConv2d(nn.Conv2d):
    r"""Convolution with a PixelCNN mask of type ``"A"`` or ``"B"`` ("same" zero padding).

    Args:
        in_channels, out_channels: feature channels, multiples of ``data_channels``.
        kernel_size: int or (height, width), odd.
        mask_type: ``"A"`` (excludes the centre's own channel group) or ``"B"``.
        data_channels: C, the channels of the modelled image (1 for grey images).

    Shapes: ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.

    References:
        Pixel Recurrent Neural Networks, A. van den Oord et al., 2016, Section 3.4.
        https://arxiv.org/abs/1601.06759
    """

    mask: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        mask_type: str = "B",
        data_channels: int = 1,
        bias: bool = True,
    ):
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {(kh, kw)}")
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), bias=bias)
        self.mask_type = mask_type
        g_in = channel_groups(in_channels, data_channels)
        g_out = channel_groups(out_channels, data_channels)
        mask = torch.zeros(out_channels, in_channels, kh, kw)
        mask[:, :, : kh // 2] = 1
        mask[:, :, kh // 2, : kw // 2] = 1
        centre = (
            g_in[None, :] < g_out[:, None] if mask_type == "A" else g_in[None] <= g_out[:, None]
        )
        mask[:, :, kh // 2, kw // 2] = centre.float()
        self.register_buffer("mask", mask)

    @property
    def radius(self) -> tuple[int, int]:
        """(rows above, columns on each side) that one output pixel reads."""
        return self.kernel_size[0] // 2, self.kernel_size[1] // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """The same convolution without padding and without the all-zero rows below the centre.

        ``(N, C_in, h, w) -> (N, C_out, h - rh, w - 2 rw)``; output row i reads input rows
        i .. i + rh, so the bottom output row sits on the bottom input row. This is what the
        incremental sampler evaluates on a small window around the next pixel.
        """
        rh = self.kernel_size[0] // 2
        w = (self.weight * self.mask)[:, :, : rh + 1]
        return F.conv2d(x, w, self.bias)
