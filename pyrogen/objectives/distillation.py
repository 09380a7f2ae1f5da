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

:class:`DistillationLoss` computes these terms; :class:`~pyrogen.infer.DensityDistillation`
is the stepper that minimizes them over the student.

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

from pyrogen.metrics.spectral import power_spectrum
from pyrogen.models.iaf_student import IAFStudent
from pyrogen.models.protocols import ExactDensity, implements


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
        if not implements(teacher, ExactDensity):
            raise TypeError(f"teacher needs log_prob(x); {type(teacher).__name__} has none")
        self.teacher = teacher.requires_grad_(False)
        self.student = student

    def sample(
        self, n: int, length: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` signals ``(n, T)`` from the student, in its K parallel passes."""
        return self.student.sample(n, length, generator)


class DistillationLoss:
    r"""KL(p_S || p_T) on fresh student draws, plus the optional power loss.

    Args:
        length: T of the student's draws.
        entropy: ``"analytic"`` or ``"mc"`` (see the module docstring).
        power_weight: weight of the power loss (0: off).
        reference: signals ``(N, T)`` whose mean periodogram the power loss matches.

    Calling it on a :class:`DistillationPair` and a number of draws returns 0-dim tensors:
    ``"loss"`` (the KL estimate per signal in nats plus the power term), ``"kl"``,
    ``"entropy"`` and ``"cross_entropy"`` = -E_S log p_T.

    Example:
        >>> import torch
        >>> from pyrogen.models import IAFStudent, ar2_teacher
        >>> _ = torch.manual_seed(0)
        >>> pair = DistillationPair(ar2_teacher(8, 0.5, -0.3), IAFStudent(8, 1, linear=True))
        >>> terms = DistillationLoss(8)(pair, 16)
        >>> bool(torch.isclose(terms["kl"], terms["cross_entropy"] - terms["entropy"]))
        True

    References:
        Parallel WaveNet, A. van den Oord et al., 2017, eqs. (7)-(9) and Section 3.2.1.
        https://arxiv.org/abs/1711.10433
    """

    def __init__(
        self,
        length: int,
        entropy: str = "analytic",
        power_weight: float = 0.0,
        reference: torch.Tensor | None = None,
    ):
        if entropy not in ("analytic", "mc"):
            raise ValueError(f"entropy must be 'analytic' or 'mc', got {entropy!r}")
        if power_weight > 0 and reference is None:
            raise ValueError("power_weight > 0 needs reference signals (N, T)")
        self.length, self.entropy, self.power_weight = length, entropy, power_weight
        self.reference_power: torch.Tensor | None = None
        if reference is not None:
            if reference.dim() != 2 or reference.shape[1] != length:
                raise ValueError(
                    f"reference must have shape (N, {length}), got {tuple(reference.shape)}"
                )
            self.reference_power = power_spectrum(reference.detach())

    def __call__(self, pair: DistillationPair, num_samples: int) -> dict[str, torch.Tensor]:
        sample, z, log_scale = pair.student.rsample(num_samples, self.length)
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
