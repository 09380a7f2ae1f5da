r"""Dilated causal 1-D convolution: y_t = b + sum_{i=0}^{k-1} W_i x_{t - (k-1-i) d}.

The output at time t reads inputs at t, t - d, ..., t - (k-1) d (zeros before the start).
With ``shift=True`` the input is delayed by one step first, so y_t reads x_{<t} only: the
"option A" first layer of an autoregressive stack. :meth:`CausalConv1d.step` computes one
new output from a ring buffer holding the last (k-1) d + 1 inputs, the queue of fast
WaveNet generation, in O(k) work per step instead of a pass over the whole sequence.

References:
    WaveNet: A Generative Model for Raw Audio, A. van den Oord et al., 2016, Section 2.1,
    Figure 3. https://arxiv.org/abs/1609.03499
    Fast Wavenet Generation Algorithm, T. L. Paine et al., 2016, Section 3.
    https://arxiv.org/abs/1611.09482
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Conv1d):
    """Causal (left-padded) dilated convolution ``(N, C_in, T) -> (N, C_out, T)``.

    Args:
        in_channels, out_channels: channels.
        kernel_size: k taps.
        dilation: d, the spacing of the taps.
        shift: delay the input one step so that the output at t never reads x_t.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 2,
        dilation: int = 1,
        shift: bool = False,
    ):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.shift = shift

    @property
    def reach(self) -> int:
        """How many past steps one output reads: (k - 1) d (plus one when shifted)."""
        return (self.kernel_size[0] - 1) * self.dilation[0] + int(self.shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shift:
            x = F.pad(x, (1, 0))[..., :-1]
        pad = (self.kernel_size[0] - 1) * self.dilation[0]
        return super().forward(F.pad(x, (pad, 0)))

    def init_state(self, batch: int) -> torch.Tensor:
        """Zero ring buffer ``(batch, C_in, (k-1) d + 1)`` for :meth:`step`."""
        size = (self.kernel_size[0] - 1) * self.dilation[0] + 1
        return self.weight.new_zeros(batch, self.in_channels, size)

    def step_weight(self) -> torch.Tensor:
        """The kernel as a matrix ``(C_out, k C_in)`` acting on the taps oldest first."""
        return self.weight.permute(0, 2, 1).reshape(self.out_channels, -1)

    def step(
        self, x_t: torch.Tensor, buffer: torch.Tensor, t: int, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Output at time ``t`` from the new input ``x_t (N, C_in)``; updates ``buffer``.

        For a shifted layer the caller passes x_{t-1} (zeros at t = 0) as ``x_t``.
        ``weight`` is :meth:`step_weight`, which a caller stepping many times computes once.
        """
        size = buffer.shape[-1]
        buffer[:, :, t % size] = x_t
        k, d = self.kernel_size[0], self.dilation[0]
        # Taps x_{t-(k-1)d}, ..., x_{t-d} from the queue, then x_t itself.
        taps = [buffer[:, :, (t - (k - 1 - i) * d) % size] for i in range(k - 1)] + [x_t]
        w = self.step_weight() if weight is None else weight
        return F.linear(torch.cat(taps, -1), w, self.bias)
