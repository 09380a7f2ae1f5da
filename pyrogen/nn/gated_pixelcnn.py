r"""Gated PixelCNN block: a vertical and a horizontal stack without a blind spot.

Vertical stack (sees every pixel in the rows above, full kernel width):
    v' = tanh(W_f * v + V_f h_y) . sigmoid(W_g * v + V_g h_y)
with a (k//2 + 1) x k kernel reading rows r - k//2 .. r. Its output at row r - 1 is fed
(shifted down one row, so row r never sees itself) into the horizontal stack, which reads the
pixels to the left on the current row with a 1 x k mask-A (first block) or mask-B kernel:
    h' = h + W_1x1 [tanh(W_f * h + U_f v_sh + V_f h_y) . sigmoid(W_g * h + U_g v_sh + V_g h_y)].
h_y is a learned per-class bias (class-conditional PixelCNN, eq. 4 with a one-hot h).

References:
    Conditional Image Generation with PixelCNN Decoders, A. van den Oord, N. Kalchbrenner,
    O. Vinyals, L. Espeholt, A. Graves, K. Kavukcuoglu, 2016, eqs. (2)-(4), Figure 2.
    https://arxiv.org/abs/1606.05328
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.nn.masked_conv import MaskedConv2d


def gate(a: torch.Tensor) -> torch.Tensor:
    """tanh(first half) * sigmoid(second half) of the channels: ``(N, 2F, ...) -> (N, F, ...)``."""
    f, g = a.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedPixelCNNBlock(nn.Module):
    """One gated block; ``forward(v, h, y) -> (v', h')``, all ``(N, channels, H, W)``.

    Args:
        in_channels: channels of the incoming stacks (the image's C for the first block).
        channels: F, channels of the outgoing stacks.
        kernel_size: k (odd).
        first: the first block uses a mask-A horizontal kernel and no residual connection.
        num_classes: number of class labels for the conditional bias (0: unconditional).

    References:
        Conditional Image Generation with PixelCNN Decoders, A. van den Oord et al., 2016,
        Figure 2. https://arxiv.org/abs/1606.05328
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int = 3,
        first: bool = False,
        num_classes: int = 0,
    ):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.k = kernel_size
        self.first = first
        self.v_conv = nn.Conv2d(in_channels, 2 * channels, (kernel_size // 2 + 1, kernel_size))
        self.h_conv = MaskedConv2d(
            in_channels, 2 * channels, (1, kernel_size), "A" if first else "B"
        )
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.v_class = nn.Embedding(num_classes, 2 * channels) if num_classes else None
        self.h_class = nn.Embedding(num_classes, 2 * channels) if num_classes else None

    def _class_bias(self, emb: nn.Embedding | None, y: torch.Tensor | None) -> torch.Tensor | float:
        if emb is None:
            return 0.0
        if y is None:
            raise ValueError("this block is class-conditional: pass labels y")
        return emb(y)[:, :, None, None]

    def vertical(
        self, v: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(v', pre-activation) of the vertical stack; row i reads rows i - k//2 .. i."""
        r = self.k // 2
        v_pre = self.v_conv(F.pad(v, (r, r, r, 0)))
        return gate(v_pre + self._class_bias(self.v_class, y)), v_pre

    def forward(
        self, v: torch.Tensor, h: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        v_new, v_pre = self.vertical(v, y)
        # Shift down one row: the horizontal stack at row i sees vertical features of rows < i.
        v_shift = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]
        h_pre = self.h_conv(h) + self.v_to_h(v_shift) + self._class_bias(self.h_class, y)
        h_new = self.h_out(gate(h_pre))
        return v_new, h_new if self.first else h + h_new

    def horizontal_valid(
        self, h: torch.Tensor, link: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The horizontal stack on a window of one row, without padding.

        ``h (N, C_in, w)`` holds the incoming horizontal features of columns j .. j + w - 1,
        ``link (N, 2F, w - k//2)`` the vertical features of the row above (already through
        ``v_to_h``) for the output columns j + k//2 .. j + w - 1; returns ``(N, F, w - k//2)``.
        """
        r = self.k // 2
        w = (self.h_conv.weight * self.h_conv.mask)[:, :, 0, : r + 1]
        bias = self._class_bias(self.h_class, y)
        if isinstance(bias, torch.Tensor):
            bias = bias[..., 0]
        h_pre = F.conv1d(h, w, self.h_conv.bias) + link + bias
        h_new = F.conv1d(gate(h_pre), self.h_out.weight[:, :, 0], self.h_out.bias)
        return h_new if self.first else h[:, :, r:] + h_new
