r"""Command-line construction of density distillation: a teacher run directory -> a stepper.

``build_distillation(x_shape, teacher=RUN_DIR)`` reloads the trained teacher of a run
directory (or takes a module), freezes it, and pairs it with a fresh convolutional
:class:`~pyrogen.models.IAFStudent` of the teacher's length; ``distillation_stepper`` turns that
pair into a :class:`~pyrogen.infer.DensityDistillation` stepper. Registered in
:mod:`pyrogen.cli.builtins` as the model ``distill``; the dataset only sets how many student samples
each step draws (the values are unused). :func:`distillation_report` is what ``pyrogen eval``
prints for such a run: the teacher's log-likelihood of student samples vs of its own, the KL
estimate, and the sampling time of each.

References:
    Parallel WaveNet, A. van den Oord et al., 2017, Section 3.1.
    https://arxiv.org/abs/1711.10433
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from pyrogen.infer.distillation import DensityDistillation
from pyrogen.models.iaf_student import IAFStudent
from pyrogen.models.protocols import ExactDensity, Sampler, implements
from pyrogen.objectives.distillation import DistillationPair, analytic_entropy


def _teacher_module(teacher: nn.Module | str | os.PathLike[str]) -> nn.Module:
    if isinstance(teacher, nn.Module):
        return teacher
    from pyrogen.cli.runs import load_run  # runs imports the registry: import it late
    from pyrogen.infer.checkpoint import CheckpointError

    try:
        _, stepper = load_run(teacher, device="cpu")
    except CheckpointError as e:
        raise CheckpointError(f"cannot load the teacher: {e}") from None
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
    if len(shape) != 1 or not implements(module, ExactDensity):
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


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


@torch.no_grad()
def distillation_report(
    pair: DistillationPair, x: torch.Tensor | None = None, num_samples: int = 256, seed: int = 0
) -> dict[str, Any]:
    r"""KL(p_S || p_T) = -E_S log p_T - H(p_S), and E log p_T of student vs teacher samples.

    A student matches its teacher when the teacher scores the student's samples as highly as
    its own: ``ll_gap_per_step`` = E_T log p_T / T - E_S log p_T / T (nats per step) is then
    near 0, and the KL estimate (closed-form entropy, see
    :mod:`pyrogen.objectives.distillation`) near 0 too.

    Args:
        pair: a trained :class:`DistillationPair`.
        x: test signals ``(N, T)``; their teacher log-likelihood is reported when their
            length is the student's.
        num_samples: draws from each of student and teacher.
        seed: seeds the draws (the CPU random state is restored afterwards).

    Returns:
        ``length`` T, ``sample_shape``, ``teacher_ll_{student,own,test}_per_step``,
        ``ll_gap_per_step``, ``kl``, ``kl_per_step``, ``entropy``, ``cross_entropy`` (nats per
        signal), and ``{student,teacher}_sample_seconds`` for ``num_samples`` draws.

    References:
        Parallel WaveNet, A. van den Oord et al., 2017, Section 3.1, eqs. (7)-(9).
        https://arxiv.org/abs/1711.10433
    """
    teacher: Any = pair.teacher
    if not implements(teacher, Sampler):
        raise ValueError(f"the teacher ({type(teacher).__name__}) has no sample() to compare with")
    student = pair.student
    length = student.length
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        (sample, _, log_scale), t_student = _timed(lambda: student.rsample(num_samples, length))
        own, t_teacher = _timed(lambda: teacher.sample(num_samples))
    if tuple(own.shape) != tuple(sample.shape):
        raise ValueError(
            f"teacher samples have shape {tuple(own.shape)}, student samples "
            f"{tuple(sample.shape)}: the student must have the teacher's length"
        )
    ll_student = teacher.log_prob(sample)
    entropy = analytic_entropy(log_scale).mean()
    result: dict[str, Any] = {
        "length": length,
        "sample_shape": list(sample.shape[1:]),
        "teacher_ll_student_per_step": float(ll_student.mean()) / length,
        "teacher_ll_own_per_step": float(teacher.log_prob(own).mean()) / length,
        "entropy": float(entropy),
        "cross_entropy": float(-ll_student.mean()),
        "kl": float(-ll_student.mean() - entropy),
        "student_sample_seconds": t_student,
        "teacher_sample_seconds": t_teacher,
        "num_samples": num_samples,
    }
    result["kl_per_step"] = result["kl"] / length
    result["ll_gap_per_step"] = (
        result["teacher_ll_own_per_step"] - result["teacher_ll_student_per_step"]
    )
    if x is not None and tuple(x.shape[1:]) == (length,):
        result["teacher_ll_test_per_step"] = float(teacher.log_prob(x).mean()) / length
    return result
