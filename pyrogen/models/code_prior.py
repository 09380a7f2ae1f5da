r"""A small PixelCNN over grids of discrete codes: the second-stage prior of a VQ-VAE.

    p(z) = prod_{i} Categorical(z_i | logits_i(z_{<i})),   i in raster order over (h, w),

with causality enforced by masked convolutions (van den Oord et al. 2016): the first layer
(mask "A") sees only positions strictly before i, later layers (mask "B") also see i's own
features, which by then depend only on z_{<i}. Optionally conditional, p(z | c), on a
second, fully known code grid c (the top codes of a two-level VQ-VAE-2): an embedding of c,
resized to (h, w), adds a map in every layer, which leaves the causality in z intact.
Its input is the one-hot code grid (K channels) and its layers are the library's masked
convolutions; unlike :class:`~pyrogen.models.PixelCNN`, whose input is the value itself, it
takes a spatial condition. Fully observed, so its guide samples nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.nn.masked_conv import MaskedConv2d


class CodePixelCNN(PyroModel):
    r"""Autoregressive categorical prior over code grids ``(B, h, w)`` with values in [0, K).

    ``m(z)`` returns logits ``(B, K, h, w)``: logits[:, :, i] depends only on positions
    before i in raster order. ``model(x)`` scores grids at the observed site ``"x"``. With
    ``cond_codes`` > 0 every call also takes ``cond``, an integer grid ``(B, h', w')`` with
    values in [0, cond_codes): its embedding, nearest-neighbour resized to ``(h, w)`` and mixed
    by a 3x3 convolution, gives a map that is added after every layer (a conditional PixelCNN
    with a spatial condition).

    Args:
        num_codes: K, the number of code values.
        shape: ``(h, w)`` of the code grid.
        channels: feature channels.
        num_layers: masked "B" residual layers after the first "A" layer.
        cond_codes: number of values of the condition grid; 0 (the default) for an
            unconditional prior.

    Example:
        >>> prior = CodePixelCNN(num_codes=8, shape=(3, 3), channels=16, num_layers=1)
        >>> prior(torch.zeros(2, 3, 3, dtype=torch.long)).shape, prior.sample(4).shape
        (torch.Size([2, 8, 3, 3]), torch.Size([4, 3, 3]))

    References:
        Pixel Recurrent Neural Networks, A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu,
        2016, Sec. 3.4 (masked convolutions). https://arxiv.org/abs/1601.06759

        Neural Discrete Representation Learning, A. van den Oord, O. Vinyals,
        K. Kavukcuoglu, 2017, Sec. 3.3 (the prior over codes). https://arxiv.org/abs/1711.00937

        Conditional Image Generation with PixelCNN Decoders, A. van den Oord,
        N. Kalchbrenner, O. Vinyals, L. Espeholt, A. Graves, K. Kavukcuoglu, 2016, Sec. 2.3
        (conditioning on a spatial map). https://arxiv.org/abs/1606.05328
    """

    def __init__(
        self,
        num_codes: int,
        shape: Sequence[int],
        channels: int = 64,
        num_layers: int = 4,
        cond_codes: int = 0,
    ):
        super().__init__()
        self.num_codes = num_codes
        self.shape = tuple(int(s) for s in shape)
        self.first = MaskedConv2d(num_codes, channels, 5, "A")
        self.layers = nn.ModuleList(
            [MaskedConv2d(channels, channels, 3, "B") for _ in range(num_layers)]
        )
        self.out = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, num_codes, 1),
        )
        self.cond_codes = int(cond_codes)
        if self.cond_codes < 0:
            raise ValueError(f"cond_codes must be >= 0 (0: unconditional), got {cond_codes}")
        if self.cond_codes:
            # Unmasked: the condition is known everywhere, so every position may see all of it.
            self.cond_embed = nn.Embedding(self.cond_codes, channels)
            self.cond_mix = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(channels, channels * (num_layers + 1), 1),
            )

    def _check(self, z: torch.Tensor) -> None:
        if z.dim() != 3 or tuple(z.shape[1:]) != self.shape:
            raise ValueError(
                f"code grids must have shape (batch, {self.shape[0]}, "
                f"{self.shape[1]}), got {tuple(z.shape)}"
            )
        if z.dtype.is_floating_point or (len(z) and (z.min() < 0 or z.max() >= self.num_codes)):
            raise ValueError(
                f"codes must be integers in [0, {self.num_codes - 1}], got dtype "
                f"{z.dtype} and range [{z.min()}, {z.max()}]"
            )

    def _check_cond(self, cond: torch.Tensor | None, batch: int) -> None:
        if not self.cond_codes:
            if cond is not None:
                raise ValueError("this prior is unconditional (cond_codes=0), got a cond")
            return
        if cond is None or cond.dim() != 3 or len(cond) != batch:
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(
                f"this prior is conditional: cond must be a code grid (batch={batch}, h', w'), "
                f"got {got}"
            )
        if cond.dtype.is_floating_point or (
            cond.numel() and (cond.min() < 0 or cond.max() >= self.cond_codes)
        ):
            raise ValueError(
                f"cond must hold integers in [0, {self.cond_codes - 1}], got dtype "
                f"{cond.dtype} and range [{cond.min()}, {cond.max()}]"
            )

    def _cond_maps(self, cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One additive map ``(B, channels, h, w)`` per layer from a condition grid."""
        e = self.cond_embed(cond.long()).permute(0, 3, 1, 2)  # (B, channels, h', w')
        e = F.interpolate(e, size=self.shape, mode="nearest")  # (B, channels, h, w)
        return self.cond_mix(e).chunk(len(self.layers) + 1, dim=1)

    def logits_from_onehot(
        self, onehot: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(B, K, h, w)`` from one-hot (or relaxed) codes ``(B, K, h, w)`` and, for a
        conditional prior, the condition grid ``cond`` ``(B, h', w')``."""
        self._check_cond(cond, len(onehot))
        h = self.first(onehot)
        if cond is None:
            for layer in self.layers:
                h = h + layer(F.relu(h))
            return self.out(h)
        maps = self._cond_maps(cond)
        h = h + maps[0]
        for layer, m in zip(self.layers, maps[1:], strict=True):
            h = h + layer(F.relu(h)) + m
        return self.out(h)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        self._check(z)
        onehot = F.one_hot(z.long(), self.num_codes).permute(0, 3, 1, 2).float()
        return self.logits_from_onehot(onehot, cond)

    def log_prob(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z) (or log p(z | cond)) per grid ``(B,)``."""
        return -F.cross_entropy(self(z, cond), z.long(), reduction="none").sum((1, 2))

    @pyro_method
    def model(
        self, x: torch.Tensor | None = None, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x is None:
            return self.sample(1 if cond is None else len(cond), cond)
        logits = self(x, cond).permute(0, 2, 3, 1)  # (B, h, w, K)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("x", dist.Categorical(logits=logits).to_event(2), obs=x)

    def guide(self, x: torch.Tensor | None = None, cond: torch.Tensor | None = None) -> None:
        """Fully observed: nothing to infer."""

    @torch.no_grad()
    def sample(self, num_samples: int, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Ancestral sampling in raster order: ``(num_samples, h, w)`` long; a conditional
        prior takes its condition grids ``cond`` ``(num_samples, h', w')``."""
        device = self.first.weight.device
        z = torch.zeros(num_samples, *self.shape, dtype=torch.long, device=device)
        for i in range(self.shape[0]):
            for j in range(self.shape[1]):
                logits = self(z, cond)[:, :, i, j]
                z[:, i, j] = torch.distributions.Categorical(logits=logits).sample()
        return z
