r"""Parallel IAF student: x_t = sigma_t(z_<t) z_t + mu_t(z_<t), z ~ N(0, I), stacked K times.

Every flow reads the previous flow's output only at earlier steps, so all T outputs of a flow
come from one parallel pass and the whole sample from K passes (the teacher of density
distillation needs T sequential passes). The log-scales are returned with the sample, which
gives the student's entropy in closed form (see :mod:`pyrogen.infer.distillation`):
H(p_S) = E sum_t sum_k log sigma_t^(k) + T/2 log(2 pi e).

With ``linear=True`` the shift is a linear causal filter of the flow's input and the scale a
constant, so the student is a Gaussian x = A z + b with A lower triangular; :meth:`gaussian`
returns its exact mean and covariance (used to compute KL(p_S || p_T) in closed form).

References:
    Improved Variational Inference with Inverse Autoregressive Flow, D. P. Kingma et al., 2016,
    eqs. (10)-(12). https://arxiv.org/abs/1606.04934
    Parallel WaveNet: Fast High-Fidelity Speech Synthesis, A. van den Oord et al., 2017,
    Section 3 (the student), eqs. (4)-(6). https://arxiv.org/abs/1711.10433
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from pyrogen.nn.causal_conv import CausalConv1d
from pyrogen.nn.made import AutoregressiveNN


class IAFFlow(nn.Module):
    r"""One IAF step y_t = exp(s_t) v_t + m_t with (m_t, s_t) a function of v_<t.

    Args:
        conditioner: ``"conv"`` (dilated causal convolutions; any length) or ``"made"``
            (a MADE over the T positions; the length is fixed).
        length: T (needed by ``"made"``).
        channels: hidden channels (conv) or hidden units (made).
        num_layers: dilated layers after the shifted input layer (conv).
        kernel_size: taps of every convolution.
        linear: linear shift filter of ``kernel_size`` taps and a constant scale.
    """

    def __init__(
        self,
        conditioner: str = "conv",
        length: int | None = None,
        channels: int = 32,
        num_layers: int = 4,
        kernel_size: int = 2,
        linear: bool = False,
    ):
        super().__init__()
        if conditioner not in ("conv", "made"):
            raise ValueError(f"conditioner must be 'conv' or 'made', got {conditioner!r}")
        if conditioner == "made" and (length is None or linear):
            raise ValueError("conditioner='made' needs length= and linear=False")
        self.conditioner, self.linear = conditioner, linear
        if linear:
            self.shift_filter = CausalConv1d(1, 1, kernel_size, shift=True)
            nn.init.zeros_(self.shift_filter.weight)
            nn.init.zeros_(cast(torch.Tensor, self.shift_filter.bias))
            self.log_scale = nn.Parameter(torch.zeros(()))
        elif conditioner == "made":
            assert length is not None
            self.made = AutoregressiveNN(length, (channels, channels), num_params=2)
            # Starting at the identity map keeps the first samples well inside the teacher's
            # support, where its log-density has useful gradients.
            nn.init.zeros_(self.made.out.weight)
            nn.init.zeros_(self.made.out.bias)
        else:
            self.inp = CausalConv1d(1, channels, kernel_size, shift=True)
            self.hidden = nn.ModuleList(
                CausalConv1d(channels, channels, kernel_size, 2 ** (i + 1))
                for i in range(num_layers)
            )
            self.out = nn.Conv1d(channels, 2, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(cast(torch.Tensor, self.out.bias))

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, log sigma) each ``(B, T)`` from ``v (B, T)``."""
        if self.linear:
            shift = self.shift_filter(v.unsqueeze(1))[:, 0]
            log_scale = self.log_scale.expand_as(v)
        elif self.conditioner == "made":
            params = self.made(v)
            shift, log_scale = params[:, 0], params[:, 1]
        else:
            h = torch.tanh(self.inp(v.unsqueeze(1)))
            for conv in self.hidden:
                h = h + torch.tanh(conv(h))  # residual: deep stacks stay trainable
            params = self.out(h)
            shift, log_scale = params[:, 0], params[:, 1]
        return log_scale.exp() * v + shift, log_scale


class IAFStudent(nn.Module):
    r"""A stack of :class:`IAFFlow` mapping white noise z ``(B, T)`` to a signal x ``(B, T)``.

    Args:
        length: T (the default length of :meth:`sample`; conv students accept any length).
        num_flows: K.
        conditioner, channels, num_layers, kernel_size, linear: see :class:`IAFFlow`.

    Example:
        >>> import torch
        >>> from pyrogen.models import IAFStudent
        >>> s = IAFStudent(16, num_flows=2, channels=8, num_layers=2)
        >>> x, log_scale = s(torch.randn(3, 16))
        >>> x.shape, log_scale.shape
        (torch.Size([3, 16]), torch.Size([3, 16]))

    References:
        Parallel WaveNet, A. van den Oord et al., 2017, eqs. (4)-(6).
        https://arxiv.org/abs/1711.10433
    """

    def __init__(
        self,
        length: int,
        num_flows: int = 4,
        conditioner: str = "conv",
        channels: int = 32,
        num_layers: int = 4,
        kernel_size: int = 2,
        linear: bool = False,
    ):
        super().__init__()
        if length < 1 or num_flows < 1:
            raise ValueError(f"need length >= 1 and num_flows >= 1, got {length}, {num_flows}")
        self.length, self.linear = length, linear
        self.flows = nn.ModuleList(
            IAFFlow(conditioner, length, channels, num_layers, kernel_size, linear)
            for _ in range(num_flows)
        )

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""(x, sum_k log sigma^(k)) each ``(B, T)`` from noise ``z (B, T)``.

        The second output is log |dx_t / dz_t| per step, whose sum is log |det dx/dz|.
        """
        if z.dim() != 2:
            raise ValueError(f"z must have shape (batch, T), got {tuple(z.shape)}")
        total = torch.zeros_like(z)
        x = z
        for flow in self.flows:
            x, log_scale = flow(x)
            total = total + log_scale
        return x, total

    def rsample(
        self, n: int, length: int | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Differentiable draws: (x, z, sum_k log sigma^(k)), each ``(n, T)``."""
        param = next(self.parameters())
        t = length or self.length
        z = torch.randn(n, t, generator=generator, device=param.device, dtype=param.dtype)
        x, log_scale = self(z)
        return x, z, log_scale

    @torch.no_grad()
    def sample(
        self, n: int, length: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` signals ``(n, T)`` drawn in K parallel passes."""
        return self.rsample(n, length, generator)[0]

    def gaussian(self, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact (mean ``(T,)``, covariance ``(T, T)``) of a ``linear=True`` student."""
        if not self.linear:
            raise ValueError("gaussian() is exact only for a linear=True student")
        param = next(self.parameters())
        t = length or self.length
        # The map is affine, x = A z + b: its value at z = 0 is b and at the basis rows is
        # b + A^T's rows.
        basis = torch.cat([torch.zeros(1, t), torch.eye(t)]).to(param)
        out = self(basis)[0]
        mean, a_t = out[0], out[1:] - out[0]
        return mean, a_t.T @ a_t
