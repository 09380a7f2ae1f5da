"""Convolutional encoder and decoder trunks for small images (8x8 digits, 28x28 MNIST).

The encoder halves the resolution twice with stride-2 convolutions and ends in a linear
layer; the decoder mirrors it with transposed convolutions. Image sides must be divisible
by 4, which holds for the datasets in :mod:`pyrogen.data`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyrogen.nn.mlp import activation


def _check_side(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3 or shape[1] % 4 or shape[2] % 4:
        raise ValueError(
            f"convolutional blocks expect an image shape (C, H, W) with H and W divisible "
            f"by 4, got {tuple(shape)}"
        )
    c, h, w = shape
    return int(c), int(h), int(w)


class ConvEncoder(nn.Module):
    """``(B, C, H, W) -> (B, out_dim)``: two stride-2 convolutions then a linear layer.

    Args:
        x_shape: image shape ``(C, H, W)``; H and W divisible by 4.
        out_dim: output features.
        channels: channels of the two convolutions.
        act: activation name.
    """

    def __init__(
        self,
        x_shape: Sequence[int],
        out_dim: int,
        channels: tuple[int, int] = (32, 64),
        act: str = "relu",
    ):
        super().__init__()
        c, h, w = _check_side(x_shape)
        c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(c, c1, 4, stride=2, padding=1),
            activation(act),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            activation(act),
            nn.Flatten(),
            nn.Linear(c2 * (h // 4) * (w // 4), out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[:-3]
        out = self.net(x.reshape(-1, *x.shape[-3:]))
        return out.reshape(*batch, -1)


class ConvDecoder(nn.Module):
    """``(B, in_dim) -> (B, out_channels, H, W)``: linear layer then two transposed convs.

    Args:
        in_dim: input features (e.g. the latent size).
        x_shape: target image shape ``(C, H, W)``; H and W divisible by 4.
        out_channels: channels of the output (``C`` times the number of likelihood
            parameters per pixel); defaults to ``C``.
        channels: channels of the two hidden feature maps.
        act: activation name.
    """

    def __init__(
        self,
        in_dim: int,
        x_shape: Sequence[int],
        out_channels: int | None = None,
        channels: tuple[int, int] = (64, 32),
        act: str = "relu",
    ):
        super().__init__()
        c, h, w = _check_side(x_shape)
        c1, c2 = channels
        self._grid = (c1, h // 4, w // 4)
        self.linear = nn.Sequential(nn.Linear(in_dim, c1 * (h // 4) * (w // 4)), activation(act))
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1),
            activation(act),
            nn.ConvTranspose2d(c2, out_channels or c, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch = z.shape[:-1]
        h = self.linear(z.reshape(-1, z.shape[-1])).reshape(-1, *self._grid)
        out = self.net(h)
        return out.reshape(*batch, *out.shape[-3:])
