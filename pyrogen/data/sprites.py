r"""Procedurally generated sprites with known generative factors (a dSprites stand-in).

Each image is a white shape on black, x = Sim(v) for the factor vector
v = (shape, scale, orientation, pos_x, pos_y), each factor on a finite grid and
independent uniform, as in dSprites (Matthey et al. 2017), which cannot be downloaded here.
A pixel is on when its centre, mapped into the sprite's own frame
u = R(-theta) (p - c) / s, lies inside the unit shape (square, ellipse or heart).

References:
    dSprites: Disentanglement testing Sprites dataset, L. Matthey, I. Higgins, D. Hassabis,
    A. Lerchner, 2017. https://github.com/deepmind/dsprites-dataset

    beta-VAE: Learning basic visual concepts with a constrained variational framework,
    I. Higgins et al., 2017, Sec. 4 and Appendix A.4. https://openreview.net/forum?id=Sy2fzU9gl
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
SHAPES = ("square", "ellipse", "heart")


class SpritesData(NamedTuple):
    """Images ``x`` (N, 1, H, W) in {0, 1} and factor indices ``y`` (N, 5), unpackable."""

    x: torch.Tensor
    y: torch.Tensor


class Sprites:
    r"""Renderer for sprites with factors on a grid; images are ``(1, size, size)`` binary.

    Args:
        size: image side in pixels (divisible by 4 for the conv models).
        num_scales: values of the scale factor, evenly spaced in [0.5, 1].
        num_orientations: values of the rotation angle, evenly spaced in [0, 2 pi).
        num_positions: values of each of pos_x and pos_y, evenly spaced in [0, 1].

    Example:
        >>> s = Sprites(size=16, num_positions=4)
        >>> s.factor_sizes
        (3, 6, 10, 4, 4)
        >>> y = s.sample_factors(2, torch.Generator().manual_seed(0))
        >>> s.render(y).shape
        torch.Size([2, 1, 16, 16])
    """

    factor_names = FACTOR_NAMES

    def __init__(
        self,
        size: int = 32,
        num_scales: int = 6,
        num_orientations: int = 10,
        num_positions: int = 16,
    ):
        if size < 8:
            raise ValueError(f"sprites need size >= 8 pixels, got {size}")
        if min(num_scales, num_orientations, num_positions) < 1:
            raise ValueError(
                f"every factor needs at least one value, got scales={num_scales}, "
                f"orientations={num_orientations}, positions={num_positions}"
            )
        self.size = size
        self.factor_sizes = (
            len(SHAPES),
            num_scales,
            num_orientations,
            num_positions,
            num_positions,
        )
        self.scales = torch.linspace(0.5, 1.0, num_scales)
        self.angles = torch.arange(num_orientations) * (2 * math.pi / num_orientations)
        # Keep the largest sprite inside the frame at every position.
        self.positions = 0.25 + 0.5 * torch.linspace(0.0, 1.0, num_positions)

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return math.prod(self.factor_sizes)

    def sample_factors(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` factor vectors ``(n, 5)`` (long), each factor uniform on its grid."""
        cols = [torch.randint(k, (n,), generator=generator) for k in self.factor_sizes]
        return torch.stack(cols, dim=1)

    def render(self, factors: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 1, size, size)`` float32 in {0, 1} for factor indices ``(N, 5)``."""
        if factors.dim() != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape (N, {self.num_factors}), got {tuple(factors.shape)}"
            )
        f = factors.long().cpu()
        for j, k in enumerate(self.factor_sizes):
            col = f[:, j]
            if len(col) and (int(col.min()) < 0 or int(col.max()) >= k):
                raise ValueError(
                    f"factor {self.factor_names[j]!r} indices must lie in [0, {k - 1}], got "
                    f"[{int(col.min())}, {int(col.max())}]"
                )
        centres = (torch.arange(self.size) + 0.5) / self.size
        py, px = centres[:, None], centres[None, :]  # (H, 1), (1, W)
        # Sprite half-size: 0.18 of the frame at scale 1 (about 6 pixels at size 32).
        s = (0.18 * self.scales[f[:, 1]])[:, None, None]
        ang = self.angles[f[:, 2]][:, None, None]
        dx = (px - self.positions[f[:, 3]][:, None, None]) / s  # (N, 1, W) -> broadcasts
        dy = (py - self.positions[f[:, 4]][:, None, None]) / s
        cos, sin = torch.cos(ang), torch.sin(ang)
        u = cos * dx + sin * dy  # (N, H, W): rotate the pixel grid by -theta
        v = -sin * dx + cos * dy
        square = torch.maximum(u.abs(), v.abs()) <= 0.8
        ellipse = u**2 + (v / 0.5) ** 2 <= 1.0
        # The heart curve (x^2 + y^2 - 1)^3 = x^2 y^3, scaled to a unit box, tip pointing down.
        hu, hv = u / 0.8, -v / 0.8 + 0.15
        heart = (hu**2 + hv**2 - 1) ** 3 - hu**2 * hv**3 <= 0
        shape = f[:, 0][:, None, None]
        img = torch.where(shape == 0, square, torch.where(shape == 1, ellipse, heart))
        return img.float().unsqueeze(1)


def load_sprites(
    num: int = 10_000, size: int = 32, seed: int = 0, sprites: Sprites | None = None
) -> SpritesData:
    r"""``num`` sprites with i.i.d. uniform factors: ``x`` (num, 1, size, size), ``y`` (num, 5).

    Args:
        num: number of images.
        size: image side (ignored when ``sprites`` is given).
        seed: seed of the factor draws, so the same call gives the same data.
        sprites: a configured :class:`Sprites` renderer.
    """
    if num < 1:
        raise ValueError(f"num must be a positive number of images, got {num}")
    sprites = sprites or Sprites(size=size)
    y = sprites.sample_factors(num, torch.Generator().manual_seed(seed))
    x = torch.cat([sprites.render(chunk) for chunk in y.split(4096)])
    return SpritesData(x, y)
