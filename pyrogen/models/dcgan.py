r"""DCGAN generator and discriminator networks for small images (28x28 MNIST, 8x8 digits).

Follows the architecture guidelines of Radford et al. (2016, Sec. 3): strided convolutions
instead of pooling, fractionally strided (transposed) convolutions in the generator, batch
normalization in both networks except the generator's output layer and the discriminator's
input layer, ReLU in the generator and LeakyReLU(0.2) in the discriminator, no fully connected
hidden layers beyond the projection of z and the final score. One deviation: the generator's
output activation is a sigmoid, because pyrogen's images lie in [0, 1] (the paper scales them
to [-1, 1] and uses tanh). The critic of WGAN-GP must not use batch normalization, since the
gradient penalty is per example (Gulrajani et al. 2017, Sec. 4): pass ``norm="layer"`` or
``"none"``.

References:
    Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
    Networks, A. Radford, L. Metz, S. Chintala, 2016, Sec. 3 (architecture guidelines).
    https://arxiv.org/abs/1511.06434
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_NORMS = ("batch", "layer", "none")


def _check_image_shape(x_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(x_shape) != 3 or x_shape[1] % 4 or x_shape[2] % 4:
        raise ValueError(
            f"DCGAN networks expect an image shape (C, H, W) with H and W divisible by 4, "
            f"got {tuple(x_shape)}"
        )
    c, h, w = (int(s) for s in x_shape)
    return c, h, w


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        # Layer norm over (C, H, W) per example, as a one-group GroupNorm.
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; expected one of {_NORMS}")


class DCGANGeneratorNet(nn.Module):
    """``(B, in_dim) -> (B, C, H, W)``: project and reshape, then two transposed convolutions.

    Args:
        in_dim: input size (latent plus any conditioning).
        x_shape: image shape ``(C, H, W)`` with H, W divisible by 4.
        channels: channels of the two hidden feature maps (at H/4 and H/2).
        output: ``"sigmoid"`` (images in [0, 1]), ``"tanh"`` or ``"identity"``.
    """

    def __init__(
        self,
        in_dim: int,
        x_shape: Sequence[int],
        channels: tuple[int, int] = (128, 64),
        output: str = "sigmoid",
    ):
        super().__init__()
        c, h, w = _check_image_shape(x_shape)
        c1, c2 = channels
        self._grid = (c1, h // 4, w // 4)
        self.project = nn.Sequential(
            nn.Linear(in_dim, c1 * (h // 4) * (w // 4), bias=False),
            nn.BatchNorm1d(c1 * (h // 4) * (w // 4)),
            nn.ReLU(),
        )
        outs = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}
        if output not in outs:
            raise ValueError(f"unknown output {output!r}; expected one of {sorted(outs)}")
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.ConvTranspose2d(c2, c, 4, stride=2, padding=1),
            outs[output](),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(h).reshape(-1, *self._grid))


class DCGANDiscriminatorNet(nn.Module):
    """``(B, C, H, W) -> (B, F)`` features: two stride-2 convolutions with LeakyReLU(0.2).

    Args:
        x_shape: image shape ``(C, H, W)`` with H, W divisible by 4.
        channels: channels of the two convolutions.
        norm: normalization after the second convolution: ``"batch"`` (the paper),
            ``"layer"`` or ``"none"`` (for gradient penalties).

    Attributes:
        out_dim: the feature size F = channels[1] * H/4 * W/4.
    """

    def __init__(
        self, x_shape: Sequence[int], channels: tuple[int, int] = (64, 128), norm: str = "batch"
    ):
        super().__init__()
        c, h, w = _check_image_shape(x_shape)
        c1, c2 = channels
        self.net = nn.Sequential(
            # No normalization on the input layer (Radford et al., Sec. 3).
            nn.Conv2d(c, c1, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1, bias=norm != "batch"),
            _norm2d(norm, c2),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.out_dim = c2 * (h // 4) * (w // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
