r"""A small PixelCNN over grids of discrete codes: the second-stage prior of a VQ-VAE.

    p(z) = prod_{i} Categorical(z_i | logits_i(z_{<i})),   i in raster order over (h, w),

with causality enforced by masked convolutions (van den Oord et al. 2016): the first layer
(mask "A") sees only positions strictly before i, later layers (mask "B") also see i's own
features, which by then depend only on z_{<i}. Self-contained so the VQ-VAE does not
depend on the full PixelCNN family; fully observed, so its guide samples nothing.
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


class _MaskedConv2d(nn.Conv2d):
    """Convolution whose kernel sees only the rows above and the pixels to the left (and the
    centre itself for mask ``"B"``)."""

    mask: torch.Tensor

    def __init__(self, mask: str, c_in: int, c_out: int, k: int):
        super().__init__(c_in, c_out, k, padding=k // 2)
        m = torch.ones(k, k)
        m[k // 2, k // 2 + (mask == "B") :] = 0
        m[k // 2 + 1 :] = 0
        self.register_buffer("mask", m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class CodePixelCNN(PyroModel):
    r"""Autoregressive categorical prior over code grids ``(B, h, w)`` with values in [0, K).

    ``m(z)`` returns logits ``(B, K, h, w)``: logits[:, :, i] depends only on positions
    before i in raster order. ``model(x)`` scores grids at the observed site ``"x"``.

    Args:
        num_codes: K, the number of code values.
        shape: ``(h, w)`` of the code grid.
        channels: feature channels.
        num_layers: masked "B" residual layers after the first "A" layer.

    Example:
        >>> prior = CodePixelCNN(num_codes=8, shape=(3, 3), channels=16, num_layers=1)
        >>> prior(torch.zeros(2, 3, 3, dtype=torch.long)).shape, prior.sample(4).shape
        (torch.Size([2, 8, 3, 3]), torch.Size([4, 3, 3]))

    References:
        Pixel Recurrent Neural Networks, A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu,
        2016, Sec. 3.4 (masked convolutions). https://arxiv.org/abs/1601.06759

        Neural Discrete Representation Learning, A. van den Oord, O. Vinyals,
        K. Kavukcuoglu, 2017, Sec. 3.3 (the prior over codes). https://arxiv.org/abs/1711.00937
    """

    def __init__(
        self, num_codes: int, shape: Sequence[int], channels: int = 64, num_layers: int = 4
    ):
        super().__init__()
        self.num_codes = num_codes
        self.shape = tuple(int(s) for s in shape)
        self.first = _MaskedConv2d("A", num_codes, channels, 5)
        self.layers = nn.ModuleList(
            [_MaskedConv2d("B", channels, channels, 3) for _ in range(num_layers)]
        )
        self.out = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, num_codes, 1),
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

    def logits_from_onehot(self, onehot: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, h, w)`` from one-hot (or relaxed) codes ``(B, K, h, w)``."""
        h = self.first(onehot)
        for layer in self.layers:
            h = h + layer(F.relu(h))
        return self.out(h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self._check(z)
        onehot = F.one_hot(z.long(), self.num_codes).permute(0, 3, 1, 2).float()
        return self.logits_from_onehot(onehot)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per grid ``(B,)``."""
        return -F.cross_entropy(self(z), z.long(), reduction="none").sum((1, 2))

    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            return self.sample(1)
        logits = self(x).permute(0, 2, 3, 1)  # (B, h, w, K)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("x", dist.Categorical(logits=logits).to_event(2), obs=x)

    def guide(self, x: torch.Tensor | None = None) -> None:
        """Fully observed: nothing to infer."""

    @torch.no_grad()
    def sample(self, num_samples: int) -> torch.Tensor:
        """Ancestral sampling in raster order: ``(num_samples, h, w)`` long."""
        device = self.first.weight.device
        z = torch.zeros(num_samples, *self.shape, dtype=torch.long, device=device)
        for i in range(self.shape[0]):
            for j in range(self.shape[1]):
                logits = self(z)[:, :, i, j]
                z[:, i, j] = torch.distributions.Categorical(logits=logits).sample()
        return z
