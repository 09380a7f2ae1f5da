r"""A spatial condition from a grid of discrete codes: one additive map per layer of a network.

The condition c is a fully known integer grid ``(B, h', w')`` (the top codes of a two-level
VQ-VAE-2 conditioning its bottom prior). Each code is embedded, the embedding map is
nearest-neighbour resized to the network's grid ``(h, w)``, and a 3x3 then 1x1 convolution
mixes it into ``num_maps`` maps ``(B, channels, h, w)``, one added to the hidden state after
each layer (the spatial conditioning of van den Oord et al. 2016, Sec. 2.3, h = f(W x + V s)).
The convolutions are not masked: c is known at every position, so every output may read all of
it, and adding a function of c alone leaves a network's causality in x unchanged.

References:
    Conditional Image Generation with PixelCNN Decoders, A. van den Oord, N. Kalchbrenner,
    O. Vinyals, L. Espeholt, A. Graves, K. Kavukcuoglu, 2016, Sec. 2.3.
    https://arxiv.org/abs/1606.05328

    Generating Diverse High-Fidelity Images with VQ-VAE-2, A. Razavi, A. van den Oord,
    O. Vinyals, 2019, Sec. 3.2 (the bottom prior conditioned on the top codes).
    https://arxiv.org/abs/1906.00446
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.validation import check_positive_int


class CodeGridCondition(nn.Module):
    r"""Maps a code grid ``(B, h', w')`` in [0, num_codes) to maps ``(B, channels, h, w)``.

    Args:
        num_codes: number of values of the condition grid.
        channels: channels of each map (the conditioned network's hidden width).
        shape: ``(h, w)``, the conditioned network's grid.
        num_maps: how many maps to return (one per layer of the conditioned network).

    Example:
        >>> cond = CodeGridCondition(num_codes=3, channels=4, shape=(6, 6), num_maps=2)
        >>> [m.shape for m in cond(torch.zeros(5, 3, 3, dtype=torch.long))]
        [torch.Size([5, 4, 6, 6]), torch.Size([5, 4, 6, 6])]
    """

    def __init__(self, num_codes: int, channels: int, shape: Sequence[int], num_maps: int):
        super().__init__()
        self.num_codes = check_positive_int(num_codes, "num_codes")
        self.num_maps = check_positive_int(num_maps, "num_maps")
        self.shape = tuple(int(s) for s in shape)
        self.embed = nn.Embedding(num_codes, channels)
        self.mix = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels * num_maps, 1),
        )

    def check(self, cond: torch.Tensor | None, batch: int) -> None:
        """Fails unless ``cond`` is an integer grid ``(batch, h', w')`` in [0, num_codes)."""
        if cond is None or cond.dim() != 3 or len(cond) != batch:
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(
                f"this model is conditioned on a code grid: pass y of shape (batch={batch}, "
                f"h', w') with integers in [0, {self.num_codes - 1}], got {got}"
            )
        if cond.numel() and bool(
            ((cond != cond.round()) | (cond < 0) | (cond >= self.num_codes)).any()
        ):
            raise ValueError(
                f"the condition grid must hold integers in [0, {self.num_codes - 1}], got "
                f"dtype {cond.dtype} and range [{cond.min()}, {cond.max()}]"
            )

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        e = self.embed(cond.long()).permute(0, 3, 1, 2)  # (B, channels, h', w')
        e = F.interpolate(e, size=self.shape, mode="nearest")  # (B, channels, h, w)
        return self.mix(e).chunk(self.num_maps, dim=1)
