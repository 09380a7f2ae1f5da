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

Over a grid of discrete codes (the prior of a VQ-VAE), the values are unordered: with
``one_hot_input=True`` the network reads each value as a one-hot vector instead of a scaled
number, and ``cond_codes`` conditions it on a second, fully known code grid ``y`` (the top
codes of a VQ-VAE-2) through one additive map per layer
(:class:`~pyrogen.nn.CodeGridCondition`).

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
from pyrogen.models.likelihoods import Categorical, Likelihood, get_likelihood
from pyrogen.nn.code_grid_condition import CodeGridCondition
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
        one_hot_input: read each value as a one-hot vector (categorical likelihood only):
            for unordered values such as VQ-VAE codes.
        cond_codes: condition on a code grid ``y (B, h', w')`` with values in
            [0, cond_codes), which adds one map per layer; 0 (the default): unconditional.
        **head_kwargs: passed to the likelihood (e.g. ``num_classes=256``).

    Example:
        >>> import torch
        >>> from pyrogen.models import PixelCNN
        >>> _ = torch.manual_seed(0)
        >>> m = PixelCNN((1, 4, 4), channels=8, num_layers=1)
        >>> x = m.sample(2)
        >>> x.shape, m.log_prob(x).shape, m(x).shape
        (torch.Size([2, 1, 4, 4]), torch.Size([2]), torch.Size([2, 1, 1, 4, 4]))

        A prior over 3x3 grids of 8 codes given 2x2 grids of 4 codes (VQ-VAE-2's bottom prior):

        >>> prior = PixelCNN((1, 3, 3), channels=8, num_layers=1, likelihood="categorical",
        ...                  num_classes=8, one_hot_input=True, cond_codes=4)
        >>> top = torch.randint(4, (2, 2, 2))
        >>> prior.sample(2, y=top).shape, prior.log_prob(prior.sample(2, y=top), top).shape
        (torch.Size([2, 1, 3, 3]), torch.Size([2]))

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
        one_hot_input: bool = False,
        cond_codes: int = 0,
        **head_kwargs: object,
    ):
        x_shape = check_image_shape(x_shape, type(self).__name__)
        check_positive_int(channels, "channels")
        check_positive_int(num_layers, "num_layers")
        super().__init__(x_shape, get_likelihood(likelihood, "autoregressive", **head_kwargs))
        c, hgt, wid = self.x_shape
        p = self.head.params_per_value
        self.one_hot_input = bool(one_hot_input)
        # Input features per data channel: a one-hot vector or the scaled value.
        self.features_per_value = 1
        if self.one_hot_input:
            if not isinstance(self.head, Categorical):
                raise ValueError(
                    f"one_hot_input=True needs the categorical likelihood (unordered values), "
                    f"got {type(self.head).__name__}"
                )
            self.features_per_value = self.head.num_classes
        self.input_conv = MaskedConv2d(c * self.features_per_value, channels, first_kernel, "A", c)
        self.layers = nn.ModuleList(
            MaskedConv2d(channels, channels, kernel_size, "B", c) for _ in range(num_layers)
        )
        self.out_hidden = MaskedConv2d(channels, channels, 1, "B", c)
        self.out = MaskedConv2d(channels, p * c, 1, "B", c)
        if cond_codes < 0:
            raise ValueError(f"cond_codes must be >= 0 (0: unconditional), got {cond_codes}")
        self.condition = (
            CodeGridCondition(cond_codes, channels, (hgt, wid), num_layers + 1)
            if cond_codes
            else None
        )

    @classmethod
    def for_codes(
        cls,
        num_codes: int,
        shape: Sequence[int],
        channels: int = 64,
        num_layers: int = 4,
        cond_codes: int = 0,
    ) -> PixelCNN:
        r"""The prior over ``(h, w)`` grids of ``num_codes`` codes of a VQ-VAE (Sec. 3.3 of van
        den Oord et al. 2017): one-hot input, a 5x5 first kernel, categorical conditionals,
        conditioned on a code grid of ``cond_codes`` values where that is > 0 (VQ-VAE-2's
        bottom prior). It scores and draws one-channel grids ``(B, 1, h, w)``."""
        return cls(
            (1, *shape),
            channels=channels,
            num_layers=num_layers,
            first_kernel=5,
            likelihood="categorical",
            num_classes=num_codes,
            one_hot_input=True,
            cond_codes=cond_codes,
        )

    def _check_y(self, y: torch.Tensor | None, batch: int) -> None:
        if self.condition is None:
            super()._check_y(y, batch)
        else:
            self.condition.check(y, batch)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """Input features ``(B, C * F, H, W)`` of values ``(B, C, H, W)``, grouped by channel.
        The values' support is checked by :meth:`check_x` (under Pyro validation); a value
        outside [0, K) makes ``one_hot`` fail in any case."""
        if not self.one_hot_input:
            return self.head.input_scale(x)
        onehot = F.one_hot(x.long(), self.features_per_value).to(x.dtype)  # (B, C, H, W, K)
        return onehot.permute(0, 1, 4, 2, 3).flatten(1, 2)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        # (N, F, h, w) -> (N, P, C, h, w); the output channels are grouped by data channel.
        out = self.out(F.relu(self.out_hidden(F.relu(h))))
        n, _, hh, ww = out.shape
        return out.view(n, self.x_shape[0], self.head.params_per_value, hh, ww).transpose(1, 2)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, C, H, W)`` of every conditional from ``x (B, C, H, W)`` (and,
        for a conditional model, the condition grid ``y (B, h', w')``)."""
        return self.forward_encoded(self._encode(x), y)

    def forward_encoded(
        self, features: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:meth:`forward` from the input features ``(B, C * F, H, W)`` (scaled values, or
        one-hot vectors with ``one_hot_input``): differentiable in them, so causality can be
        checked by gradient through a one-hot input too."""
        h = self.input_conv(features)
        if self.condition is None:
            for conv in self.layers:
                h = h + conv(F.relu(h))
            return self._head(h)
        if y is None:  # the full check of y is _check_y's, once per log_prob or sample
            raise ValueError("this model is conditioned on a code grid: pass y (B, h', w')")
        maps = self.condition(y)
        h = h + maps[0]
        for conv, m in zip(self.layers, maps[1:], strict=True):
            h = h + conv(F.relu(h)) + m
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
        maps: list[torch.Tensor] | None,
    ) -> torch.Tensor:
        """Parameters ``(N, P, C)`` at pixel (r, col) from the padded encoded canvas ``xs``.

        ``weights`` are the masked kernels cut to their rows at or above the centre,
        ``inside`` marks the in-image positions of the padded canvas, ``maps`` are the
        condition's maps padded like the canvas (None: unconditional).
        """
        convs = self._spatial()
        # The window holds original rows r-rh..r and columns col-rw..col+rw; in padded
        # coordinates it starts at (r, col).
        h = F.conv2d(xs[:, :, r : r + rh + 1, col : col + 2 * rw + 1], weights[0], convs[0].bias)
        top, left = r + convs[0].radius[0], col + convs[0].radius[1]
        for i, (conv, w) in enumerate(zip(convs[1:], weights[1:])):
            hh, ww = h.shape[-2:]
            if maps is not None:
                h = h + maps[i][:, :, top : top + hh, left : left + ww]
            a, b = conv.radius
            # Zero outside the image, as the zero padding of the full pass does.
            act = F.relu(h) * inside[top : top + hh, left : left + ww]
            h = h[:, :, a:, b : ww - b] + F.conv2d(act, w, conv.bias)
            top, left = top + a, left + b
        if maps is not None:
            h = h + maps[-1][:, :, top : top + 1, left : left + 1]
        return self._head(h)[:, :, :, 0, 0]

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        c, hgt, wid = self.x_shape
        convs = self._spatial()
        rh = sum(cv.radius[0] for cv in convs)
        rw = sum(cv.radius[1] for cv in convs)
        weights = [(cv.weight * cv.mask)[:, :, : cv.radius[0] + 1] for cv in convs]
        xs = F.pad(self._encode(x), (rw, rw, rh, 0))
        inside = F.pad(x.new_ones(hgt, wid), (rw, rw, rh, 0))
        maps = None
        if self.condition is not None:
            maps = [F.pad(m, (rw, rw, rh, 0)) for m in self.condition(y)]
        noise = noise.view(x.shape[0], c, hgt, wid, -1)
        f = self.features_per_value
        for r in range(hgt):
            for col in range(wid):
                for k in range(c):
                    params = self._cone(xs, r, col, weights, inside, rh, rw, maps)[:, :, k]
                    v = self.head.sample(params, noise[:, k, r, col])
                    x[:, k, r, col] = v
                    # Only channel k's features change: write its block of the canvas.
                    enc = self._encode(v.view(-1, 1, 1, 1))[:, :, 0, 0]  # (N, F)
                    xs[:, k * f : (k + 1) * f, r + rh, col + rw] = enc
        return x
