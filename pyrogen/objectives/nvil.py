r"""NVIL's learned, input-dependent baseline with running centring and scaling of the signal.

    A(x, z) = (l(x, z) - b_psi(x) - c) / max(1, sqrt(v)),

where l = log p(x, z) - log q(z | x) is the learning signal, c and v are running estimates of
the mean and variance of l - b_psi(x), and b_psi is trained to minimize E[(l - b_psi(x) - c)^2].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyrogen.nn import MLP


class NVILBaseline(nn.Module):
    r"""A = (l - b_psi(x) - c) / max(1, sqrt(v)): NVIL's baseline network and running c, v.

    Attach it to the module you train, so that its parameters are optimized, moved to the
    device and checkpointed with the model, and hand it to the objective::

        vae.baseline = NVILBaseline(vae.x_shape)           # a submodule of the PyroModule
        loss = ScoreFunction_ELBO(baseline="nvil", baseline_net=vae.baseline)
        trainer = SVITrainer(vae, loss)                    # one optimizer over both

    The objective adds the baseline's regression loss (l - b_psi(x) - c)^2 to its surrogate
    with zero value, so one backward pass trains the baseline jointly with the model and guide.

    Args:
        x_shape: shape of one observation (or its number of values).
        hidden: hidden sizes of the MLP (NVIL: one layer of 100 tanh units).
        decay: decay of the running mean and variance (NVIL: 0.8).
        normalize: divide the centred signal by max(1, sqrt(v)) as NVIL does. This rescales
            the guide's gradient by a positive, batch-dependent factor (an adaptive step
            size): set ``False`` to keep the estimator unbiased for the ELBO's gradient.

    Shapes:
        ``forward``: x ``(B, *x_shape)`` -> ``(B,)``.

    References:
        Neural Variational Inference and Learning in Belief Networks, A. Mnih, K. Gregor,
        2014, sections 3.1-3.3 and Algorithm 1. https://arxiv.org/abs/1402.0030
    """

    center: torch.Tensor
    var: torch.Tensor
    started: torch.Tensor

    def __init__(
        self,
        x_shape: Sequence[int] | int,
        hidden: Sequence[int] = (100,),
        decay: float = 0.8,
        normalize: bool = True,
    ):
        super().__init__()
        self.x_shape = (x_shape,) if isinstance(x_shape, int) else tuple(x_shape)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.normalize = normalize
        x_dim = int(torch.Size(self.x_shape).numel())
        self.net = MLP(x_dim, tuple(hidden), 1, act="tanh")
        self.register_buffer("center", torch.zeros(()))
        self.register_buffer("var", torch.ones(()))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = len(self.x_shape)
        if tuple(x.shape[x.dim() - k :]) != self.x_shape:
            raise ValueError(
                f"NVILBaseline expects x shaped (batch, {', '.join(map(str, self.x_shape))}), "
                f"got {tuple(x.shape)}"
            )
        return self.net(x.reshape(*x.shape[: x.dim() - k], -1)).squeeze(-1)

    @torch.no_grad()
    def update(self, residual: torch.Tensor) -> None:
        """Moves c and v towards the mean and variance of ``residual`` = l - b_psi(x)."""
        mean, var = residual.mean(), residual.var(unbiased=False)
        if not bool(self.started):
            self.center.copy_(mean)
            self.var.copy_(var)
            self.started.fill_(True)
            return
        self.center.mul_(self.decay).add_((1 - self.decay) * mean)
        self.var.mul_(self.decay).add_((1 - self.decay) * var)
