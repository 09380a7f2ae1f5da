r"""WaveNet density over 1-D signals: p(x) = prod_t p(x_t | x_<t) with dilated causal convolutions.

A shifted causal input layer, residual blocks of gated dilated convolutions
z = tanh(W_f * h) . sigmoid(W_g * h) with dilations 1, 2, 4, ... (cycled), skip connections
summed into a two-layer 1x1 output, and a per-step likelihood: categorical over mu-law
levels (the paper's choice) or Gaussian, p(x_t | x_<t) = N(mu_t, sigma_t^2), the teacher of
probability density distillation.

Sampling: the naive path reruns the network over the whole signal for every new step
(O(T^2)); the cached path keeps one queue per layer (:meth:`CausalConv1d.step`) and computes
only the new step (O(T)), with the same result for the same seed.

References:
    WaveNet: A Generative Model for Raw Audio, A. van den Oord et al., 2016, eqs. (1)-(2).
    https://arxiv.org/abs/1609.03499
    Fast Wavenet Generation Algorithm, T. L. Paine et al., 2016. https://arxiv.org/abs/1611.09482
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Gaussian, Likelihood, get_likelihood
from pyrogen.nn.causal_conv import CausalConv1d
from pyrogen.nn.gated_pixelcnn import gate
from pyrogen.validation import check_positive_int


def mu_law_encode(x: torch.Tensor, num_classes: int = 256) -> torch.Tensor:
    r"""Quantizes f(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu), mu = K - 1, to levels 0..K-1."""
    mu = num_classes - 1
    f = torch.sign(x) * torch.log1p(mu * x.abs().clamp(max=1)) / math.log1p(mu)
    return torch.round((f + 1) / 2 * mu)


def mu_law_decode(k: torch.Tensor, num_classes: int = 256) -> torch.Tensor:
    """Inverse of :func:`mu_law_encode` (up to quantization): levels 0..K-1 to [-1, 1]."""
    mu = num_classes - 1
    f = 2 * k / mu - 1
    return torch.sign(f) * torch.expm1(f.abs() * math.log1p(mu)) / mu


def _bias(conv: nn.Conv1d) -> torch.Tensor:
    if conv.bias is None:
        return conv.weight.new_zeros(conv.out_channels)
    return conv.bias


class WaveNet(AutoregressiveModel):
    r"""WaveNet density over signals of fixed length ``T`` (event shape ``(T,)``).

    Args:
        length: T.
        channels: residual channels.
        num_layers: number of gated dilated blocks; dilation of block i is 2^(i mod cycle).
        dilation_cycle: length of the dilation cycle (10 gives 1 .. 512).
        kernel_size: taps of the dilated convolutions.
        skip_channels: channels of the skip path (default: ``channels``).
        likelihood: ``"categorical"`` (``num_classes`` levels, e.g. mu-law) or ``"gaussian"``.

    Example:
        >>> import torch
        >>> from pyrogen.models import WaveNet
        >>> _ = torch.manual_seed(0)
        >>> m = WaveNet(16, channels=8, num_layers=3, likelihood="gaussian")
        >>> x = m.sample(2)
        >>> naive = m.sample(2, cached=False, generator=torch.Generator().manual_seed(1))
        >>> cached = m.sample(2, generator=torch.Generator().manual_seed(1))
        >>> x.shape, m(x).shape, bool((naive - cached).abs().max() < 1e-5)
        (torch.Size([2, 16]), torch.Size([2, 2, 16]), True)

    References:
        WaveNet: A Generative Model for Raw Audio, A. van den Oord et al., 2016.
        https://arxiv.org/abs/1609.03499
    """

    def __init__(
        self,
        length: int,
        channels: int = 32,
        num_layers: int = 10,
        dilation_cycle: int = 10,
        kernel_size: int = 2,
        skip_channels: int | None = None,
        likelihood: str | Likelihood = "categorical",
        **head_kwargs: object,
    ):
        check_positive_int(length, "length")
        check_positive_int(channels, "channels")
        check_positive_int(num_layers, "num_layers")
        super().__init__((length,), get_likelihood(likelihood, "autoregressive", **head_kwargs))
        skip = skip_channels or channels
        self.input_conv = CausalConv1d(1, channels, kernel_size, shift=True)
        self.dilated = nn.ModuleList(
            CausalConv1d(channels, 2 * channels, kernel_size, 2 ** (i % dilation_cycle))
            for i in range(num_layers)
        )
        self.res = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in range(num_layers))
        self.skip = nn.ModuleList(nn.Conv1d(channels, skip, 1) for _ in range(num_layers))
        self.out_hidden = nn.Conv1d(skip, skip, 1)
        self.out = nn.Conv1d(skip, self.head.params_per_value, 1)

    def _blocks(self) -> tuple[list[CausalConv1d], list[nn.Conv1d], list[nn.Conv1d]]:
        """The dilated, residual and skip convolutions of every block."""
        return (
            [cast(CausalConv1d, c) for c in self.dilated],
            [cast(nn.Conv1d, c) for c in self.res],
            [cast(nn.Conv1d, c) for c in self.skip],
        )

    @property
    def receptive_field(self) -> int:
        """Number of past steps that one conditional reads."""
        return self.input_conv.reach + sum(c.reach for c in self._blocks()[0])

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, T)`` of p(x_t | x_<t) for every t from ``x (B, T)``."""
        h = self.input_conv(self.head.input_scale(x).unsqueeze(1))
        skip: torch.Tensor | float = 0.0
        for conv, res, sk in zip(*self._blocks()):
            z = gate(conv(h))
            h = h + res(z)
            skip = skip + sk(z)
        return self.out(F.relu(self.out_hidden(F.relu(torch.as_tensor(skip)))))

    def loc_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_t, sigma_t) of a Gaussian WaveNet, each ``(B, T)``, from ``x (B, T)``."""
        if not isinstance(self.head, Gaussian):
            raise ValueError(f"loc_scale needs likelihood='gaussian', got {self.head.name!r}")
        return self.head.loc_scale(self(x))

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        n, length = x.shape
        convs, ress, skips = self._blocks()
        c = self.input_conv.out_channels
        states = [self.input_conv.init_state(n)] + [cv.init_state(n) for cv in convs]
        # Matrices computed once: per-step work is then a few small matrix products.
        w_in = self.input_conv.step_weight()
        w_dil = [cv.step_weight() for cv in convs]
        w_rs = [torch.cat([r.weight[:, :, 0], s.weight[:, :, 0]]) for r, s in zip(ress, skips)]
        b_rs = [torch.cat([_bias(r), _bias(s)]) for r, s in zip(ress, skips)]
        w_hid, w_out = self.out_hidden.weight[:, :, 0], self.out.weight[:, :, 0]
        prev = x.new_zeros(n, 1)  # the shifted input layer reads zero padding at t = 0
        for t in range(length):
            h = self.input_conv.step(prev, states[0], t, w_in)
            skip = torch.zeros((), device=x.device, dtype=x.dtype)
            for i, conv in enumerate(convs):
                a = conv.step(h, states[i + 1], t, w_dil[i])
                z = torch.tanh(a[:, :c]) * torch.sigmoid(a[:, c:])
                rs = F.linear(z, w_rs[i], b_rs[i])
                h = h + rs[:, :c]
                skip = skip + rs[:, c:]
            hid = F.linear(F.relu(skip), w_hid, self.out_hidden.bias)
            params = F.linear(F.relu(hid), w_out, self.out.bias)
            x[:, t] = self.head.sample(params, noise[:, t])
            prev = self.head.input_scale(x[:, t : t + 1])
        return x
