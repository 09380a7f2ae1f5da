r"""Learning-rate schedules by name, as factories ``optimizer -> LRScheduler``.

A factory is what :class:`~pyrogen.infer.SVITrainer` takes as ``scheduler=``: the trainer
builds its optimizer lazily (after the first batch created every parameter), so it builds the
scheduler then. A factory's ``interval`` says whether the scheduler steps after every
optimizer update (``"step"``) or after every epoch (``"epoch"``, through ``fit``'s
``end_epoch`` hook).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LRScheduler, StepLR

SCHEDULES = ("none", "iwae", "cosine", "step")


@dataclass
class ScheduleFactory:
    """A named scheduler factory: ``factory(optimizer)`` builds the scheduler.

    Attributes:
        build: ``optimizer -> LRScheduler``.
        interval: ``"step"`` or ``"epoch"``: when the scheduler steps.
        name: shown in messages.
    """

    build: Callable[[torch.optim.Optimizer], LRScheduler]
    interval: str
    name: str

    def __call__(self, optim: torch.optim.Optimizer) -> LRScheduler:
        return self.build(optim)


@dataclass
class IWAEFactor:
    """The multiplier of the learning rate after ``epoch`` epochs: ``10^(-i/7)`` in stage
    ``i``, stage ``i`` covering epochs ``[(3^i - 1) / 2, (3^{i+1} - 1) / 2)``; the last
    stage lasts for ever. (A callable object, not a lambda, so that its state is saved.)"""

    stages: int = 8

    def __call__(self, epoch: int) -> float:
        stage = 0
        while stage + 1 < self.stages and (3 ** (stage + 1) - 1) // 2 <= epoch:
            stage += 1
        return float(10 ** (-stage / 7))


def iwae_schedule(stages: int = 8) -> ScheduleFactory:
    r"""The schedule of the IWAE paper: ``lr_i = lr * 10^(-i/7)`` for ``3^i`` epochs,
    ``i = 0 .. stages - 1`` (3280 epochs in all for 8 stages), with the optimizer's ``lr``
    1e-3 in the paper (Adam, ``eps=1e-4``, batch 20).

    Example:
        >>> import torch
        >>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
        >>> sched = iwae_schedule()(opt)
        >>> lrs = []
        >>> for _ in range(14):
        ...     lrs.append(round(opt.param_groups[0]["lr"] * 1e3, 3))
        ...     opt.step(); sched.step()
        >>> lrs[:5], lrs[12:]  # 1 epoch at 1e-3, 3 at 1e-3 * 10^(-1/7), 9 at ..., then ...
        ([1.0, 0.72, 0.72, 0.72, 0.518], [0.518, 0.373])

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016,
        section 5 (training procedure). https://arxiv.org/abs/1509.00519
    """
    if stages < 1:
        raise ValueError(f"expected stages >= 1, got {stages}")
    return ScheduleFactory(lambda opt: LambdaLR(opt, IWAEFactor(stages)), "epoch", "iwae")


def cosine_schedule(epochs: int) -> ScheduleFactory:
    """Cosine annealing of the learning rate from ``lr`` to 0 over ``epochs`` epochs.

    References:
        SGDR: Stochastic Gradient Descent with Warm Restarts, I. Loshchilov, F. Hutter,
        2017, eq. (5). https://arxiv.org/abs/1608.03983
    """
    if epochs < 1:
        raise ValueError(f"expected epochs >= 1, got {epochs}")
    return ScheduleFactory(lambda opt: CosineAnnealingLR(opt, T_max=epochs), "epoch", "cosine")


def step_schedule(step_size: int, gamma: float = 0.1) -> ScheduleFactory:
    """The learning rate multiplied by ``gamma`` every ``step_size`` epochs."""
    if step_size < 1:
        raise ValueError(f"expected step_size >= 1, got {step_size}")
    return ScheduleFactory(
        lambda opt: StepLR(opt, step_size=step_size, gamma=gamma), "epoch", "step"
    )


def make_schedule(
    name: str, epochs: int, step_size: int | None = None, gamma: float = 0.1
) -> ScheduleFactory | None:
    """The schedule called ``name`` (one of :data:`SCHEDULES`) for a run of ``epochs``
    epochs; ``"step"`` defaults to a step every third of the run."""
    if name == "none":
        return None
    if name == "iwae":
        return iwae_schedule()
    if name == "cosine":
        return cosine_schedule(max(1, epochs))
    if name == "step":
        return step_schedule(step_size or max(1, epochs // 3), gamma)
    raise ValueError(f"unknown learning-rate schedule {name!r}; expected one of {SCHEDULES}")
