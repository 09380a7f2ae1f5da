r"""PixelCNN: p(x) = prod_{r, c, k} p(x_{k, r, c} | x_{<(r, c)}, x_{<k, (r, c)}) by masked convs.

A 7x7 mask-A convolution, residual blocks of mask-B convolutions, and two 1x1 layers give
every sub-pixel's conditional in one pass. Stacked masked 3x3 kernels grow a receptive field
with a *blind spot*: the pixels up and to the right of the current one that no path reaches
(van den Oord et al. 2016b, Figure 1); :class:`~pyrogen.models.GatedPixelCNN` removes it.

Sampling is sequential over H x W x C sub-pixels. The naive path runs the whole network once
per sub-pixel. The cached path evaluates, for the next pixel only, the cone of activations
it depends on: a window of rows above it, each masked convolution applied without padding
so that the window shrinks layer by layer to the one pixel, with out-of-image activations
set to zero exactly as the padded full pass does. The cost per step is then independent of
the image size.

References:
    Pixel Recurrent Neural Networks, A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu, 2016,
    Section 3.4 (masks A and B), eq. (1). https://arxiv.org/abs/1601.06759
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn.masked_conv import MaskedConv2d
from pyrogen.validation import check_image_shape, check_positive_int


class PixelCNN(AutoregressiveModel):
    r"""PixelCNN density over images ``(C, H, W)`` in raster order, channels innermost.

    Args:
        x_shape: ``(C, H, W)``.
        channels: feature channels (a multiple of C).
        num_layers: number of residual mask-B blocks.
        kernel_size: kernel of the mask-B layers.
        first_kernel: kernel of the mask-A input layer.
        likelihood: ``"bernoulli"`` (binary images), ``"categorical"`` (``num_classes``
            levels), ``"discretized_logistic"`` or an :class:`Likelihood`.
        **head_kwargs: passed to the likelihood (e.g. ``num_classes=256``).

    Example:
        >>> import torch
        >>> from pyrogen.models import PixelCNN
        >>> _ = torch.manual_seed(0)
        >>> m = PixelCNN((1, 4, 4), channels=8, num_layers=1)
        >>> x = m.sample(2)
        >>> x.shape, m.log_prob(x).shape, m(x).shape
        (torch.Size([2, 1, 4, 4]), torch.Size([2]), torch.Size([2, 1, 1, 4, 4]))

    References:
        Pixel Recurrent Neural Networks, A. van den Oord et al., 2016, Section 3.4.
        https://arxiv.org/abs/1601.06759
    """

    layers: nn.ModuleList

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 28, 28),
        channels: int = 64,
        num_layers: int = 5,
        kernel_size: int = 3,
        first_kernel: int = 7,
        likelihood: str | Likelihood = "bernoulli",
        **head_kwargs: object,
    ):
        x_shape = check_image_shape(x_shape, type(self).__name__)
        check_positive_int(channels, "channels")
        check_positive_int(num_layers, "num_layers")
        super().__init__(x_shape, get_likelihood(likelihood, "autoregressive", **head_kwargs))
        c = self.x_shape[0]
        p = self.head.params_per_value
        self.input_conv = MaskedConv2d(c, channels, first_kernel, "A", c)
        self.layers = nn.ModuleList(
            MaskedConv2d(channels, channels, kernel_size, "B", c) for _ in range(num_layers)
        )
        self.out_hidden = MaskedConv2d(channels, channels, 1, "B", c)
        self.out = MaskedConv2d(channels, p * c, 1, "B", c)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        # (N, F, h, w) -> (N, P, C, h, w); the output channels are grouped by data channel.
        out = self.out(F.relu(self.out_hidden(F.relu(h))))
        n, _, hh, ww = out.shape
        return out.view(n, self.x_shape[0], self.head.params_per_value, hh, ww).transpose(1, 2)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, C, H, W)`` of every conditional from ``x (B, C, H, W)``."""
        h = self.input_conv(self.head.input_scale(x))
        for conv in self.layers:
            h = h + conv(F.relu(h))
        return self._head(h)

    def order(self) -> torch.Tensor:
        c, hgt, wid = self.x_shape
        idx = torch.arange(c * hgt * wid).view(c, hgt, wid)
        return idx.permute(1, 2, 0).reshape(-1)  # raster over pixels, channels innermost

    # -- cached generation ----------------------------------------------------------------
    def _spatial(self) -> list[MaskedConv2d]:
        """The convolutions with a spatial extent, input layer first."""
        return [self.input_conv, *(cast(MaskedConv2d, c) for c in self.layers)]

    def _cone(
        self,
        xs: torch.Tensor,
        r: int,
        col: int,
        weights: list[torch.Tensor],
        inside: torch.Tensor,
        rh: int,
        rw: int,
    ) -> torch.Tensor:
        """Parameters ``(N, P, C)`` at pixel (r, col) from the padded scaled canvas ``xs``.

        ``weights`` are the masked kernels cut to their rows at or above the centre,
        ``inside`` marks the in-image positions of the padded canvas.
        """
        convs = self._spatial()
        # The window holds original rows r-rh..r and columns col-rw..col+rw; in padded
        # coordinates it starts at (r, col).
        h = F.conv2d(xs[:, :, r : r + rh + 1, col : col + 2 * rw + 1], weights[0], convs[0].bias)
        top, left = r + convs[0].radius[0], col + convs[0].radius[1]
        for conv, w in zip(convs[1:], weights[1:]):
            a, b = conv.radius
            hh, ww = h.shape[-2:]
            # Zero outside the image, as the zero padding of the full pass does.
            act = F.relu(h) * inside[top : top + hh, left : left + ww]
            h = h[:, :, a:, b : ww - b] + F.conv2d(act, w, conv.bias)
            top, left = top + a, left + b
        return self._head(h)[:, :, :, 0, 0]

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        c, hgt, wid = self.x_shape
        convs = self._spatial()
        rh = sum(cv.radius[0] for cv in convs)
        rw = sum(cv.radius[1] for cv in convs)
        weights = [(cv.weight * cv.mask)[:, :, : cv.radius[0] + 1] for cv in convs]
        xs = F.pad(self.head.input_scale(x), (rw, rw, rh, 0))
        inside = F.pad(x.new_ones(hgt, wid), (rw, rw, rh, 0))
        noise = noise.view(x.shape[0], c, hgt, wid, -1)
        for r in range(hgt):
            for col in range(wid):
                for k in range(c):
                    params = self._cone(xs, r, col, weights, inside, rh, rw)[:, :, k]
                    v = self.head.sample(params, noise[:, k, r, col])
                    x[:, k, r, col] = v
                    xs[:, k, r + rh, col + rw] = self.head.input_scale(v)
        return x
