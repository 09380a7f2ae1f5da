r"""PixelVAE: p(x, z) = N(z | 0, I) prod_i p(x_i | x_{<i}, z), a VAE with a PixelCNN decoder.

Generative model and amortized guide, over binary images ``(1, H, W)``::

    p(z) = N(0, I),
    p(x | z) = prod_i Bernoulli(x_i | sigmoid(f_i(x_{<i}, z))),    i in raster order,
    q(z | x) = N(mu(x), diag sigma(x)^2),

trained by ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)) <= log p(x). The decoder maps
z to a feature map the size of the image (transposed convolutions, as the convolutional VAE
decoder) and adds a 1x1 projection of it to the input of every masked convolution, so z
reaches every layer while the masks keep f_i from reading any x_j with j >= i.

The number L of masked layers and their kernel k set the decoder's receptive field: L k//2
rows above the pixel and L k//2 columns to its left (with the PixelCNN blind spot up and to
the right). A decoder that sees little of x_{<i} must take the global shape of a digit from
z; one that sees much can model the images without z, and the ELBO's KL term then pushes
q(z | x) towards the prior (the posterior-collapse trade-off of the VLAE discussion).
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
from pyrogen.nn import ConvDecoder, ConvEncoder, MaskedConv2d
from pyrogen.validation import (
    check_binary,
    check_image_shape,
    check_num_samples,
    check_observations,
    check_positive_int,
    check_shape,
    parameter_dtype,
)


class PixelVAEDecoder(nn.Module):
    r"""Logits f_i(x_{<i}, z) of every pixel of a one-channel image, in one pass.

    A mask-A convolution, ``num_layers - 1`` residual mask-B convolutions (all k x k, from
    :class:`~pyrogen.nn.MaskedConv2d`) and two 1x1 layers, as in
    :class:`~pyrogen.models.PixelCNN`; layer l's input is shifted by c_l(z), a 1x1
    projection of a transposed-convolution upsampling of z.

    Args:
        x_shape: ``(1, H, W)``, H and W divisible by 4.
        z_dim: latent size.
        channels: feature channels of the masked layers.
        num_layers: L >= 1 masked convolutions.
        kernel_size: k (odd) of every masked convolution.
        cond_channels: channels of the upsampled latent map.
        upsample_channels: hidden channels of the upsampling network.

    Shapes:
        ``forward(x (N, 1, H, W), z (N, z_dim)) -> logits (N, 1, H, W)``, with
        d logits[..., r, c] / d x[..., r', c'] = 0 unless (r', c') precedes (r, c) in raster
        order and lies within :meth:`receptive_field`.

    References:
        PixelVAE: A Latent Variable Model for Natural Images, I. Gulrajani et al., 2017.
        https://arxiv.org/abs/1611.05013
    """

    layers: nn.ModuleList

    def __init__(
        self,
        x_shape: Sequence[int],
        z_dim: int,
        channels: int = 32,
        num_layers: int = 3,
        kernel_size: int = 3,
        cond_channels: int = 8,
        upsample_channels: tuple[int, int] = (64, 32),
    ):
        super().__init__()
        shape = check_image_shape(x_shape, "PixelVAEDecoder")
        if shape[0] != 1:
            raise ValueError(f"PixelVAE models one-channel images (1, H, W), got {shape}")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        check_positive_int(channels, "channels")
        check_positive_int(cond_channels, "cond_channels")
        self.channels = channels
        self.upsample = ConvDecoder(z_dim, shape, cond_channels, upsample_channels, act="relu")
        self.cond = nn.Conv2d(cond_channels, num_layers * channels, 1)
        self.input_conv = MaskedConv2d(1, channels, kernel_size, "A")
        self.layers = nn.ModuleList(
            MaskedConv2d(channels, channels, kernel_size, "B") for _ in range(num_layers - 1)
        )
        self.out_hidden = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(channels, 1, 1)

    @property
    def reach(self) -> int:
        """Rows above (and columns to the left of) a pixel that its logit can read: L k//2."""
        return self.num_layers * self.input_conv.radius[0]

    def condition(self, z: torch.Tensor) -> torch.Tensor:
        """The per-layer maps c_l(z), stacked: ``(N, z_dim) -> (N, L * channels, H, W)``."""
        return self.cond(F.relu(self.upsample(z)))

    def logits(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1, h, W)`` from ``x (N, 1, h, W)`` and rows of ``condition(z)``.

        ``x`` and ``cond`` may be a band of rows of the image: the masks and the zero padding
        make the bottom row of the output exact once the band holds ``reach`` rows above it.
        """
        c = cond.chunk(self.num_layers, dim=1)
        h = self.input_conv(2 * x - 1) + c[0]
        for conv, c_l in zip(self.layers, c[1:]):
            h = h + c_l
            h = h + conv(F.relu(h))
        return self.out(F.relu(self.out_hidden(F.relu(h))))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.logits(x, self.condition(z))

    def receptive_field(self) -> torch.Tensor:
        """Which input pixels a logit reads, from the masks: ``(R + 1, 2R + 1)`` booleans,
        R = :attr:`reach`; entry ``[R + dr, R + dc]`` is offset (dr <= 0, dc) from the pixel,
        whose own entry ``[R, R]`` is False."""
        support = {(0, 0)}
        for conv in [self.input_conv, *self.layers]:
            assert isinstance(conv, MaskedConv2d)
            kh, kw = conv.kernel_size
            taps = conv.mask.amax(dim=(0, 1)).nonzero().tolist()
            offsets = [(a - kh // 2, b - kw // 2) for a, b in taps]
            # A residual layer keeps what it received: its support includes the offset 0.
            keep = support if conv is not self.input_conv else set()
            support = keep | {(r + a, c + b) for r, c in support for a, b in offsets}
        reach = self.reach
        field = torch.zeros(reach + 1, 2 * reach + 1, dtype=torch.bool)
        for r, c in support:
            field[reach + r, reach + c] = True
        return field


class PixelVAE(PyroModel):
    r"""p(x | z) = prod_i Bernoulli(x_i | sigmoid(f_i(x_{<i}, z))), q(z | x) = N(mu(x), sigma(x)^2).

    A VAE with a convolutional encoder and a latent-conditioned PixelCNN decoder
    (:class:`PixelVAEDecoder`).

    Args:
        x_shape: ``(1, H, W)`` binary images, H and W divisible by 4.
        z_dim: latent size.
        hidden: width of the encoder's last (linear) layer.
        channels: feature channels of the masked layers.
        num_layers: L, the number of masked convolutions of the decoder.
        kernel_size: k of the masked convolutions; L and k set the receptive field.
        cond_channels: channels of the upsampled latent map.
        min_scale: floor added to the posterior standard deviation.

    Raises:
        ValueError: a shape that is not ``(1, H, W)`` with H and W divisible by 4, a size that
            is not a positive int, or an even ``kernel_size``.

    Example:
        >>> import torch
        >>> from pyrogen.models import PixelVAE
        >>> _ = torch.manual_seed(0)
        >>> m = PixelVAE((1, 8, 8), z_dim=2, hidden=16, channels=8, num_layers=2)
        >>> x = m.sample(3)
        >>> x.shape, m.encode(x)[0].shape, int(m.decoder.receptive_field().sum())
        (torch.Size([3, 1, 8, 8]), torch.Size([3, 2]), 11)

    References:
        PixelVAE: A Latent Variable Model for Natural Images, I. Gulrajani, K. Kumar,
        F. Ahmed, A. A. Taiga, F. Visin, D. Vazquez, A. Courville, 2017 (the model, and the
        MNIST study of the number of PixelCNN layers). https://arxiv.org/abs/1611.05013
        Pixel Recurrent Neural Networks, A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu,
        2016, Section 3.4 (masks A and B). https://arxiv.org/abs/1601.06759
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 28, 28),
        z_dim: int = 32,
        hidden: int = 256,
        channels: int = 32,
        num_layers: int = 3,
        kernel_size: int = 3,
        cond_channels: int = 8,
        min_scale: float = 1e-4,
    ):
        super().__init__()
        self.z_dim = check_positive_int(z_dim, "z_dim")
        hidden = check_positive_int(hidden, "hidden")
        self.x_shape = check_image_shape(x_shape, "PixelVAE")
        self.decoder = PixelVAEDecoder(
            self.x_shape, z_dim, channels, num_layers, kernel_size, cond_channels
        )
        self.encoder = ConvEncoder(self.x_shape, hidden, act="relu")
        self.loc_head = nn.Linear(hidden, z_dim)
        self.scale_head = nn.Linear(hidden, z_dim)
        self.min_scale = min_scale

    def check_x(self, x: torch.Tensor) -> None:
        """Shape always; dtype, finiteness and support when Pyro validation is enabled."""
        check_observations(x, self.x_shape, parameter_dtype(self), check_binary)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x): ``(B, 1, H, W) -> ((B, z_dim), (B, z_dim))``."""
        h = F.relu(self.encoder(x))
        return self.loc_head(h), F.softplus(self.scale_head(h)) + self.min_scale

    def decode(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logits of p(x_i | x_{<i}, z): ``x (B, 1, H, W)``, ``z (..., B, z_dim)`` ->
        ``(..., B, 1, H, W)`` (leading particle dimensions of z broadcast over x)."""
        batch = z.shape[:-1]
        flat_x = x.expand(*batch, *self.x_shape).reshape(-1, *self.x_shape)
        logits = self.decoder(flat_x, z.reshape(-1, self.z_dim))
        return logits.reshape(*batch, *self.x_shape)

    def conditional_log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = sum_i log Bernoulli(x_i | x_{<i}, z): ``(B, 1, H, W), (B, z_dim)
        -> (B,)``, in one pass."""
        logits = self.decode(x, z)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

    # -- Pyro model and guide ---------------------------------------------------------------
    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError(
                "PixelVAE.model scores observed images x (B, 1, H, W); draw new ones with "
                "sample(n), which generates pixel by pixel"
            )
        self.check_x(x)
        zeros = self.loc_head.weight.new_zeros(self.z_dim)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            logits = self.decode(x, z)
            return pyro.sample("x", dist.Bernoulli(logits=logits).to_event(3), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("the guide q(z | x) needs observations x, got None")
        self.check_x(x)
        loc, scale = self.encode(x)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    # -- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        r"""x ~ p(x | z) pixel by pixel in raster order: ``z (N, z_dim) -> (N, 1, H, W)``.

        Pixel i is 1 iff u_i < sigmoid(f_i(x_{<i}, z)), with u ~ Uniform(0, 1) given as
        ``noise (N, 1, H, W)`` or drawn. Each step evaluates only the band of ``reach + 1``
        rows ending at the current row, which gives the current row's logits exactly.
        """
        _, hgt, wid = self.x_shape
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        n = z.shape[0]
        if noise is None:
            noise = torch.rand(n, *self.x_shape, device=z.device, dtype=z.dtype)
        check_shape(noise, self.x_shape, "noise")
        threshold = torch.logit(noise)  # x = 1 iff logit(u) < f, exact for saturated f
        cond = self.decoder.condition(z)
        x = z.new_zeros(n, *self.x_shape)
        reach = self.decoder.reach
        for r in range(hgt):
            top = max(0, r - reach)
            for c in range(wid):
                f = self.decoder.logits(x[:, :, top : r + 1], cond[:, :, top : r + 1])
                x[:, 0, r, c] = (threshold[:, 0, r, c] < f[:, 0, -1, c]).to(x.dtype)
        return x

    @torch.no_grad()
    def sample(self, num_samples: int) -> torch.Tensor:
        """Draws ``(num_samples, 1, H, W)`` from p(x): z from the prior, then
        :meth:`generate` (784 decoder passes for 28x28 images)."""
        check_num_samples(num_samples)
        w = self.loc_head.weight
        z = torch.randn(num_samples, self.z_dim, device=w.device, dtype=w.dtype)
        return self.generate(z)
