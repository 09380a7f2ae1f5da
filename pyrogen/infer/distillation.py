r"""Probability density distillation: KL(p_S || p_T) = E_S log p_S(x) - E_S log p_T(x).

A slow autoregressive teacher p_T(x) = prod_t N(x_t | mu_t(x_<t), sigma_t^2) is distilled into
a parallel IAF student x = f(z), z ~ N(0, I) (:class:`~pyrogen.models.IAFStudent`). Because
log p_S(x) = log N(z; 0, I) - sum_t log |dx_t/dz_t|, the student's entropy is

    H(p_S) = E_z sum_t log sigma_t(z) + T/2 log(2 pi e)

(the Gaussian part in closed form, ``entropy="analytic"``), or estimated by Monte Carlo
from -log p_S of the same draws (``entropy="mc"``, the same expectation with more variance).
The cross-entropy term -E_S log p_T(x) scores all T student steps in ONE teacher pass (teacher
forcing on the student's own sample), and gradients flow through x into the student by the
reparameterization. An optional power loss || log P_S(f) - log P_ref(f) ||^2 matches the
student's mean periodogram to a reference (e.g. the training data's), as in Parallel WaveNet.

Training with :func:`~pyrogen.infer.fit`: the stepper draws its own noise, so the data only
sets how many samples each step uses (its batch size) and how many steps make an epoch; pass
e.g. ``torch.zeros(steps_per_epoch * batch_size, 1)``.

References:
    Parallel WaveNet: Fast High-Fidelity Speech Synthesis, A. van den Oord et al., 2017,
    Section 3.1, eqs. (7)-(9) (density distillation and the entropy in closed form) and
    Section 3.2.1 (power loss). https://arxiv.org/abs/1711.10433
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from pyrogen.infer.trainer import make_adam
from pyrogen.metrics.spectral import power_spectrum
from pyrogen.models.iaf_student import IAFStudent


def analytic_entropy(log_scale: torch.Tensor) -> torch.Tensor:
    r"""H = sum_t log sigma_t + T/2 log(2 pi e) per draw ``(B,)`` from ``log_scale (B, T)``."""
    t = log_scale.shape[-1]
    return log_scale.sum(-1) + 0.5 * t * math.log(2 * math.pi * math.e)


def mc_entropy(z: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    r"""-log p_S(x) = -log N(z; 0, I) + sum_t log sigma_t per draw ``(B,)``; its mean is H."""
    log_normal = -0.5 * z.square() - 0.5 * math.log(2 * math.pi)
    return (log_scale - log_normal).sum(-1)


class DistillationPair(nn.Module):
    """Teacher (frozen) and student in one module, so ``fit`` moves and checkpoints both."""

    def __init__(self, teacher: nn.Module, student: IAFStudent):
        super().__init__()
        self.teacher = teacher.requires_grad_(False)
        self.student = student

    def sample(
        self, n: int, length: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` signals ``(n, T)`` from the student, in its K parallel passes."""
        return self.student.sample(n, length, generator)


class DensityDistillation:
    r"""A :class:`~pyrogen.infer.Stepper` minimizing KL(p_S || p_T) over the student.

    Args:
        teacher: a density with ``log_prob(x (B, T)) -> (B,)`` evaluated in one parallel pass
            (any :class:`~pyrogen.models.AutoregressiveModel`, e.g. a Gaussian WaveNet).
        student: the :class:`~pyrogen.models.IAFStudent` being trained.
        lr: Adam learning rate (ignored when ``optim`` is given).
        entropy: ``"analytic"`` or ``"mc"`` (see the module docstring).
        power_weight: weight of the power loss (0: off).
        reference: signals ``(N, T)`` whose mean periodogram the power loss matches.
        length: T of the student's draws (default: ``student.length``).
        optim: a torch optimizer over ``student.parameters()``.

    The reported ``"loss"`` (minimized) is the KL estimate per signal in nats plus the power
    term; ``"kl"``, ``"entropy"`` and ``"cross_entropy"`` = -E_S log p_T are reported too.

    Example:
        >>> import torch
        >>> from pyrogen.infer import DensityDistillation
        >>> from pyrogen.models import IAFStudent, ar2_teacher
        >>> _ = torch.manual_seed(0)
        >>> d = DensityDistillation(ar2_teacher(8, 0.5, -0.3), IAFStudent(8, 1, linear=True))
        >>> sorted(d.step(torch.zeros(16, 1)))
        ['cross_entropy', 'entropy', 'kl', 'loss']

    References:
        Parallel WaveNet, A. van den Oord et al., 2017, eqs. (7)-(9).
        https://arxiv.org/abs/1711.10433
    """

    def __init__(
        self,
        teacher: nn.Module,
        student: IAFStudent,
        lr: float = 1e-3,
        *,
        entropy: str = "analytic",
        power_weight: float = 0.0,
        reference: torch.Tensor | None = None,
        length: int | None = None,
        optim: torch.optim.Optimizer | None = None,
    ):
        if entropy not in ("analytic", "mc"):
            raise ValueError(f"entropy must be 'analytic' or 'mc', got {entropy!r}")
        if not callable(getattr(teacher, "log_prob", None)):
            raise TypeError(f"teacher needs log_prob(x); {type(teacher).__name__} has none")
        if power_weight > 0 and reference is None:
            raise ValueError("power_weight > 0 needs reference signals (N, T)")
        self.pair = DistillationPair(teacher, student)
        self.module: nn.Module = self.pair  # what fit moves to the device and checkpoints
        self.entropy, self.power_weight = entropy, power_weight
        self.length = length or student.length
        self.reference_power: torch.Tensor | None = None
        if reference is not None:
            if reference.dim() != 2 or reference.shape[1] != self.length:
                raise ValueError(
                    f"reference must have shape (N, {self.length}), got {tuple(reference.shape)}"
                )
            self.reference_power = power_spectrum(reference.detach())
        self.optim = optim or make_adam(student.parameters(), lr=lr)

    def _terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() < 1 or x.shape[0] < 1:
            raise ValueError(f"data must be a batch (N, ...) with N >= 1, got {tuple(x.shape)}")
        pair = self.pair
        sample, z, log_scale = pair.student.rsample(x.shape[0], self.length)
        if self.entropy == "analytic":
            h = analytic_entropy(log_scale).mean()
        else:
            h = mc_entropy(z, log_scale).mean()
        # One teacher pass scores all T steps of every student sample.
        teacher: Any = pair.teacher  # any module with log_prob
        cross = -teacher.log_prob(sample).mean()
        kl = cross - h
        loss = kl
        if self.power_weight > 0 and self.reference_power is not None:
            ref = self.reference_power.to(sample)
            gap = (power_spectrum(sample) + 1e-8).log() - (ref + 1e-8).log()
            loss = loss + self.power_weight * gap.square().mean()
        return {"loss": loss, "kl": kl, "entropy": h, "cross_entropy": cross}

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One Adam step on ``x.shape[0]`` fresh student samples (``x``'s values are unused)."""
        self.pair.student.train()
        terms = self._terms(x)
        self.optim.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optim.step()
        return {k: v.detach() for k, v in terms.items()}

    def evaluate(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The same quantities on ``x.shape[0]`` fresh samples, without an update."""
        with torch.no_grad():
            return self._terms(x)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "optim": self.optim.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
