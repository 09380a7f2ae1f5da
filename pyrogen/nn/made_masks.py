r"""MADE connectivity: degree-based masks that make a feed-forward network autoregressive.

Inputs get degrees m_0(d) = rank of d in the ordering (0 .. D-1); hidden unit k of layer l
gets m_l(k) drawn uniformly from {min m_{l-1}, ..., D - 2}; a hidden weight k <- j is kept
iff m_l(k) >= m_{l-1}(j) and an output weight d <- k iff rank(d) > m_L(k). Every output d then
depends only on inputs of smaller rank (eqs. 12-13 of the paper, with 0-based ranks).

References:
    MADE: Masked Autoencoder for Distribution Estimation, M. Germain, K. Gregor, I. Murray,
    H. Larochelle, 2015, eqs. (12)-(13). https://arxiv.org/abs/1502.03509
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def made_masks(
    order: torch.Tensor, hidden: Sequence[int], generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Masks ``(out, in)`` of every layer (the last with ``D`` output rows) for one ordering.

    Args:
        order: permutation of 0..D-1, the positions in generation order.
        hidden: hidden layer sizes.
        generator: random source of the hidden degrees.
    """
    d = order.numel()
    rank = torch.empty(d, dtype=torch.long)
    rank[order] = torch.arange(d)
    degrees = [rank]
    for size in hidden:
        lo = int(degrees[-1].min())
        hi = max(d - 1, lo + 1)  # exclusive bound: degrees up to D - 2
        degrees.append(torch.randint(lo, hi, (size,), generator=generator))
    masks = [(deg[:, None] >= prev[None, :]).float() for prev, deg in zip(degrees, degrees[1:])]
    masks.append((rank[:, None] > degrees[-1][None, :]).float())
    return masks


class MADELinear(nn.Linear):
    """Linear layer whose weight is multiplied by one of several stored binary masks.

    Args:
        in_features, out_features: sizes.
        masks: ``(M, out_features, in_features)``, one mask per ordering/connectivity.

    Shapes: ``(N, in_features) -> (N, out_features)``.
    """

    masks: torch.Tensor

    def __init__(self, in_features: int, out_features: int, masks: torch.Tensor):
        super().__init__(in_features, out_features)
        if masks.shape[1:] != (out_features, in_features):
            raise ValueError(
                f"masks must have shape (M, {out_features}, {in_features}), "
                f"got {tuple(masks.shape)}"
            )
        self.register_buffer("masks", masks)

    def forward(self, x: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        return F.linear(x, self.weight * self.masks[mask_index], self.bias)
