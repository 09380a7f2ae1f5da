r"""Parallel IAF student: x_t = sigma_t(z_<t) z_t + mu_t(z_<t), z ~ N(0, I), stacked K times.

Each flow is an IAF step (:class:`~pyrogen.transforms.AffineAutoregressive`, IAF direction,
no bound on the log-scale) whose conditioner reads the previous flow's output only at
earlier steps, so all T outputs of a flow come from one parallel pass and the whole sample
from K passes (the teacher of density
distillation needs T sequential passes). The log-scales are returned with the sample, which
gives the student's entropy in closed form (see :mod:`pyrogen.objectives.distillation`):
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

from pyrogen.nn.causal_conditioners import CausalConvConditioner, LinearShiftConditioner
from pyrogen.nn.made import AutoregressiveNN
from pyrogen.transforms.autoregressive import AffineAutoregressive


def iaf_step(
    conditioner: str = "conv",
    length: int | None = None,
    channels: int = 32,
    num_layers: int = 4,
    kernel_size: int = 2,
    linear: bool = False,
) -> AffineAutoregressive:
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
    if conditioner not in ("conv", "made"):
        raise ValueError(f"conditioner must be 'conv' or 'made', got {conditioner!r}")
    if conditioner == "made" and (length is None or linear):
        raise ValueError("conditioner='made' needs length= and linear=False")
    net: nn.Module
    if linear:
        net = LinearShiftConditioner(kernel_size)
    elif conditioner == "made":
        assert length is not None
        made = AutoregressiveNN(length, (channels, channels), num_params=2)
        # Starting at the identity map keeps the first samples well inside the teacher's
        # support, where its log-density has useful gradients.
        nn.init.zeros_(made.out.weight)
        nn.init.zeros_(made.out.bias)
        net = made
    else:
        net = CausalConvConditioner(channels, num_layers, kernel_size)
    dim = length if conditioner == "made" else None
    return AffineAutoregressive(dim, direction="iaf", log_scale_bound=None, conditioner=net)


class IAFStudent(nn.Module):
    r"""A stack of K IAF steps (:func:`iaf_step`) mapping white noise z ``(B, T)`` to a
    signal x ``(B, T)``.

    Args:
        length: T (the default length of :meth:`sample`; conv students accept any length).
        num_flows: K.
        conditioner, channels, num_layers, kernel_size, linear: see :func:`iaf_step`.

    Example:
        >>> import torch
        >>> from pyrogen.models import IAFStudent
        >>> s = IAFStudent(16, num_flows=2, channels=8, num_layers=2)
        >>> x, z, log_scale = s.rsample(3)
        >>> x.shape, s(z).shape, log_scale.shape
        (torch.Size([3, 16]), torch.Size([3, 16]), torch.Size([3, 16]))

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
            iaf_step(conditioner, length, channels, num_layers, kernel_size, linear)
            for _ in range(num_flows)
        )

    def _check(self, z: torch.Tensor) -> None:
        if z.dim() != 2:
            raise ValueError(f"z must have shape (batch, T), got {tuple(z.shape)}")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """x ``(B, T)`` from noise ``z (B, T)``."""
        self._check(z)
        x = z
        for flow in self.flows:
            x = flow(x)
        return x

    def rsample(
        self, n: int, length: int | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Differentiable draws: (x, z, sum_k log sigma^(k)), each ``(n, T)``; the last is
        log |dx_t / dz_t| per step, whose sum over t is log |det dx/dz|."""
        param = next(self.parameters())
        t = length or self.length
        z = torch.randn(n, t, generator=generator, device=param.device, dtype=param.dtype)
        x, log_scale = self.with_log_scales(z)
        return x, z, log_scale

    def with_log_scales(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""x and sum_k log sigma^(k) = log |dx_t / dz_t|, each ``(B, T)``, from ``z (B, T)``."""
        self._check(z)
        x, total = z, torch.zeros_like(z)
        for flow in self.flows:
            step = cast(AffineAutoregressive, flow)
            y = step(x)
            total = total + step.log_scales(x, y)  # the step's own s, kept from its pass
            x = y
        return x, total

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
        out = self(basis)
        mean, a_t = out[0], out[1:] - out[0]
        return mean, a_t.T @ a_t
