r"""The density-distillation stepper: Adam on KL(p_S || p_T) over the student.

The objective is :class:`~pyrogen.objectives.DistillationLoss`. Training with
:func:`~pyrogen.infer.fit`: the stepper draws its own noise, so the data only sets how many
samples each step uses (its batch size) and how many steps make an epoch; pass e.g.
``torch.zeros(steps_per_epoch * batch_size, 1)``.

References:
    Parallel WaveNet: Fast High-Fidelity Speech Synthesis, A. van den Oord et al., 2017,
    Section 3.1, eqs. (7)-(9). https://arxiv.org/abs/1711.10433
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pyrogen.infer.stepper import make_adam
from pyrogen.models.iaf_student import IAFStudent
from pyrogen.objectives.distillation import DistillationLoss, DistillationPair


class DensityDistillation:
    r"""A :class:`~pyrogen.infer.Stepper` minimizing KL(p_S || p_T) over the student.

    Args:
        teacher: a density with ``log_prob(x (B, T)) -> (B,)`` evaluated in one parallel pass
            (any :class:`~pyrogen.models.AutoregressiveModel`, e.g. a Gaussian WaveNet).
        student: the :class:`~pyrogen.models.IAFStudent` being trained.
        lr: Adam learning rate (ignored when ``optim`` is given).
        entropy: ``"analytic"`` or ``"mc"`` (see :mod:`pyrogen.objectives.distillation`).
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
        self.loss = DistillationLoss(length or student.length, entropy, power_weight, reference)
        self.pair = DistillationPair(teacher, student)
        self.module: nn.Module = self.pair  # what fit moves to the device and checkpoints
        self.optim = optim or make_adam(student.parameters(), lr=lr)

    def _terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() < 1 or x.shape[0] < 1:
            raise ValueError(f"data must be a batch (N, ...) with N >= 1, got {tuple(x.shape)}")
        return self.loss(self.pair, x.shape[0])

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
