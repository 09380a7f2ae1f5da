r"""Autoregressive conditioners of any length for affine flows over sequences.

A conditioner maps v ``(B, T)`` to raw ``(shift, log-scale)`` ``(B, 2, T)`` whose position t
reads v_<t only, so that y_t = v_t exp(s_t) + m_t is an autoregressive (IAF) step. MADE
(:class:`~pyrogen.nn.AutoregressiveNN`) does this for a fixed T; these use causal
convolutions, so one network serves every length:

* :class:`CausalConvConditioner`: a shifted causal input layer, then dilated causal layers
  (dilations 2, 4, 8, ...) with residual tanh units, then a 1x1 output: the student network
  of Parallel WaveNet;
* :class:`LinearShiftConditioner`: m = a linear causal filter of v and s a constant, which
  makes the flow x = A z + b with A lower triangular (a Gaussian, whose moments are exact).

Both start at the identity map (zero output layer): the first samples of a student then lie
where its teacher has useful gradients.

References:
    Parallel WaveNet: Fast High-Fidelity Speech Synthesis, A. van den Oord et al., 2017,
    Section 3 (the student's IAF conditioners). https://arxiv.org/abs/1711.10433
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from pyrogen.nn.causal_conv import CausalConv1d


class CausalConvConditioner(nn.Module):
    """Dilated causal convolutions: v ``(B, T)`` -> (shift, log-scale) ``(B, 2, T)``.

    Args:
        channels: hidden channels.
        num_layers: dilated layers after the shifted input layer (dilations 2, 4, ...).
        kernel_size: taps of every convolution.
    """

    def __init__(self, channels: int = 32, num_layers: int = 4, kernel_size: int = 2):
        super().__init__()
        self.inp = CausalConv1d(1, channels, kernel_size, shift=True)
        self.hidden = nn.ModuleList(
            CausalConv1d(channels, channels, kernel_size, 2 ** (i + 1)) for i in range(num_layers)
        )
        self.out = nn.Conv1d(channels, 2, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(cast(torch.Tensor, self.out.bias))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(v.unsqueeze(1)))
        for conv in self.hidden:
            h = h + torch.tanh(conv(h))  # residual: deep stacks stay trainable
        return self.out(h)  # (B, 2, T)


class LinearShiftConditioner(nn.Module):
    """m = a causal linear filter of ``kernel_size`` taps of v_<t, s a learned constant:
    v ``(B, T)`` -> ``(B, 2, T)``.

    Args:
        kernel_size: taps of the shift filter.
    """

    def __init__(self, kernel_size: int = 2):
        super().__init__()
        self.shift_filter = CausalConv1d(1, 1, kernel_size, shift=True)
        nn.init.zeros_(self.shift_filter.weight)
        nn.init.zeros_(cast(torch.Tensor, self.shift_filter.bias))
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        shift = self.shift_filter(v.unsqueeze(1))[:, 0]
        return torch.stack([shift, self.log_scale.expand_as(v)], dim=1)
