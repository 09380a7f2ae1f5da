r"""Command-line construction of density distillation: a teacher run directory -> a stepper.

``build_distillation(x_shape, teacher=RUN_DIR)`` reloads the trained teacher of a run
directory (or takes a module), freezes it, and pairs it with a fresh convolutional
:class:`~pyrogen.models.IAFStudent` of the teacher's length; ``distillation_stepper`` turns that
pair into a :class:`~pyrogen.infer.DensityDistillation` stepper. Registered in
:mod:`pyrogen.builtins` as the model ``distill``; the dataset only sets how many student samples
each step draws (the values are unused).

References:
    Parallel WaveNet, A. van den Oord et al., 2017, Section 3.1.
    https://arxiv.org/abs/1711.10433
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from torch import nn

from pyrogen.infer.distillation import DensityDistillation, DistillationPair
from pyrogen.models.iaf_student import IAFStudent


def _teacher_module(teacher: nn.Module | str | os.PathLike[str]) -> nn.Module:
    if isinstance(teacher, nn.Module):
        return teacher
    from pyrogen.cli import load_run  # the CLI imports the registry: import it late

    _, stepper = load_run(teacher, device="cpu")
    return stepper.module


def build_distillation(
    x_shape: Sequence[int],
    teacher: nn.Module | str | os.PathLike[str] | None = None,
    num_flows: int = 4,
    channels: int = 32,
    num_layers: int = 4,
    **_: Any,
) -> DistillationPair:
    """A frozen teacher (a module or a run directory) and a fresh IAF student of its length.

    ``x_shape`` (that of the CLI's dataset) is ignored: the student's length is the
    teacher's event length ``T``.
    """
    if teacher is None:
        raise ValueError("distillation needs a trained teacher: a run directory or a module")
    module: Any = _teacher_module(teacher)
    shape = tuple(getattr(module, "x_shape", ()))
    if len(shape) != 1 or not callable(getattr(module, "log_prob", None)):
        raise ValueError(
            f"the teacher must be a 1-D density with log_prob over (batch, T) signals; "
            f"got {type(module).__name__} with x_shape {shape}"
        )
    student = IAFStudent(shape[0], num_flows=num_flows, channels=channels, num_layers=num_layers)
    return DistillationPair(module.eval(), student)


def distillation_stepper(module: nn.Module, config: dict[str, Any]) -> DensityDistillation:
    """The stepper of a :func:`build_distillation` pair (``config["lr"]``, default 1e-3)."""
    if not isinstance(module, DistillationPair):
        raise TypeError(
            f"needs a DistillationPair (build_distillation), got {type(module).__name__}"
        )
    stepper = DensityDistillation(
        module.teacher, module.student, lr=float(config.get("lr") or 1e-3)
    )
    stepper.pair = stepper.module = (
        module  # keep the CLI's module object (same teacher and student)
    )
    return stepper
