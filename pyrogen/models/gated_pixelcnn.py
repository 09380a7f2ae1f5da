r"""Gated PixelCNN: p(x | y) = prod_{r, c} p(x_{r, c} | x_{<(r, c)}, y) without a blind spot.

Stacks of :class:`~pyrogen.nn.gated_pixelcnn.GatedPixelCNNBlock`: the vertical stack covers
all rows above the current pixel, the horizontal stack the pixels to its left, so that every
earlier pixel within the receptive field influences the conditional (plain PixelCNN misses a
wedge up and to the right). Optional class conditioning adds a learned per-class bias inside
every gate.

References:
    Conditional Image Generation with PixelCNN Decoders, A. van den Oord, N. Kalchbrenner,
    O. Vinyals, L. Espeholt, A. Graves, K. Kavukcuoglu, 2016, eqs. (2)-(4).
    https://arxiv.org/abs/1606.05328
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn.gated_pixelcnn import GatedPixelCNNBlock
from pyrogen.validation import check_image_shape, check_positive_int


class GatedPixelCNN(AutoregressiveModel):
    r"""Gated PixelCNN density over one-channel images ``(1, H, W)`` in raster order.

    Args:
        x_shape: ``(1, H, W)``.
        channels: feature channels of both stacks.
        num_layers: number of gated blocks.
        kernel_size: k of every block.
        num_classes: class-conditional with this many labels (``model(x, y)``,
            ``sample(n, y=labels)``); 0 for an unconditional model.
        likelihood: ``"bernoulli"``, ``"categorical"``, ``"discretized_logistic"`` or an
            :class:`Likelihood`; ``**head_kwargs`` go to it.

    Example:
        >>> import torch
        >>> from pyrogen.models import GatedPixelCNN
        >>> _ = torch.manual_seed(0)
        >>> m = GatedPixelCNN((1, 4, 4), channels=8, num_layers=2, num_classes=10)
        >>> y = torch.tensor([3, 7])
        >>> m.sample(2, y=y).shape, m.log_prob(torch.ones(2, 1, 4, 4), y).shape
        (torch.Size([2, 1, 4, 4]), torch.Size([2]))

    References:
        Conditional Image Generation with PixelCNN Decoders, A. van den Oord et al., 2016.
        https://arxiv.org/abs/1606.05328
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 28, 28),
        channels: int = 64,
        num_layers: int = 5,
        kernel_size: int = 3,
        num_classes: int = 0,
        likelihood: str | Likelihood = "bernoulli",
        **head_kwargs: object,
    ):
        x_shape = check_image_shape(x_shape, "GatedPixelCNN")
        check_positive_int(channels, "channels")
        check_positive_int(num_layers, "num_layers")
        if x_shape[0] != 1:
            raise ValueError(
                f"GatedPixelCNN models one-channel images: x_shape must be (1, H, W), "
                f"got {tuple(x_shape)}; use PixelCNN for images with several channels"
            )
        super().__init__(
            x_shape, get_likelihood(likelihood, "autoregressive", **head_kwargs), num_classes
        )
        self.blocks = nn.ModuleList(
            GatedPixelCNNBlock(
                1 if i == 0 else channels, channels, kernel_size, i == 0, num_classes
            )
            for i in range(num_layers)
        )
        self.out_hidden = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(channels, self.head.params_per_value, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, 1, H, W)`` of every conditional from ``x (B, 1, H, W)``."""
        v = h = self.head.input_scale(x)
        for block in self.blocks:
            v, h = block(v, h, y)
        out = self.out(F.relu(self.out_hidden(F.relu(h))))
        return out.unsqueeze(2)

    def _blocks(self) -> list[GatedPixelCNNBlock]:
        return [cast(GatedPixelCNNBlock, b) for b in self.blocks]

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        # Row cache: the vertical stack at row r - 1 depends on rows < r only, so it is
        # computed once per row; per pixel only the horizontal stack runs, on the window of
        # columns c - L k//2 .. c of the current row that the pixel's output reads.
        _, hgt, wid = self.x_shape
        blocks = self._blocks()
        rad = blocks[0].k // 2
        reach = len(blocks) * rad
        xs = self.head.input_scale(x)
        inside = F.pad(x.new_ones(wid), (reach, 0))  # zero left of the image
        for r in range(hgt):
            links = []
            v = xs
            for b in blocks:
                v, v_pre = b.vertical(v, y)
                above = v_pre[:, :, r - 1] if r > 0 else torch.zeros_like(v_pre[:, :, 0])
                link = F.conv1d(above, b.v_to_h.weight[:, :, 0], b.v_to_h.bias)
                links.append(F.pad(link, (reach, 0)))  # (N, 2F, reach + W)
            row = F.pad(xs[:, :, r], (reach, 0))  # (N, 1, reach + W)
            for col in range(wid):
                h = row[:, :, col : col + reach + 1]
                start = col
                for b, link in zip(blocks, links):
                    start += rad
                    width = h.shape[-1] - rad
                    h = b.horizontal_valid(h, link[:, :, start : start + width], y)
                    h = h * inside[start : start + width]
                params = self.out(F.relu(self.out_hidden(F.relu(h[:, :, -1:, None]))))
                v_new = self.head.sample(params[:, :, 0, 0], noise[:, r * wid + col])
                x[:, 0, r, col] = v_new
                scaled = self.head.input_scale(v_new)
                xs[:, 0, r, col] = scaled
                row[:, 0, reach + col] = scaled
        return x
