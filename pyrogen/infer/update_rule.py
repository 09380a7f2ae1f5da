r"""What happens around the optimizer step: clipping, accumulation, schedules, averaging.

:class:`UpdateRule` holds the options of :class:`~pyrogen.infer.SVITrainer` that change how
gradients become updates, all off by default (then the trainer runs its plain step):

- gradient clipping by global norm: ``g <- g * min(1, c / ||g||)``, the norm over every
  parameter's gradient as one vector (:func:`torch.nn.utils.clip_grad_norm_`); the pre-clip
  norm is reported as ``grad_norm``, a 0-dim tensor (no host sync);
- gradient accumulation over ``N`` batches: each batch adds ``1/N`` of its per-example mean
  gradient, and the optimizer steps once every ``N`` batches, so ``N`` batches of ``B``
  examples make the same update as one batch of ``N B``; a window cut short by the end of an
  epoch is averaged over the batches it has and applied then (``end_epoch``);
- a learning-rate scheduler, stepped after every update or every epoch;
- an exponential moving average of the parameters (:class:`~pyrogen.infer.ema.ParameterEMA`).

References:
    On the difficulty of training recurrent neural networks, R. Pascanu, T. Mikolov,
    Y. Bengio, 2013, Algorithm 1 (clipping by norm). https://arxiv.org/abs/1211.5063
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from pyrogen.infer.ema import ParameterEMA

SchedulerFactory = Callable[[torch.optim.Optimizer], LRScheduler]
INTERVALS = ("step", "epoch")


class UpdateRule:
    """Clipping, accumulation, a scheduler and an EMA around one optimizer.

    Args:
        clip_grad_norm: clip the gradient's global L2 norm to this value (``None``: off).
        accumulate: optimizer steps every this many batches.
        scheduler: ``optimizer -> LRScheduler`` (e.g. :func:`~pyrogen.infer.schedules.
            iwae_schedule`), built when the optimizer is.
        scheduler_interval: ``"step"`` (after every update) or ``"epoch"``; ``None`` takes
            the factory's ``interval`` attribute, else ``"step"``.
        ema_decay: keep a moving average of the parameters with this decay (``None``: off).
    """

    def __init__(
        self,
        clip_grad_norm: float | None = None,
        accumulate: int = 1,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str | None = None,
        ema_decay: float | None = None,
    ):
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"expected clip_grad_norm > 0, got {clip_grad_norm}")
        if accumulate < 1:
            raise ValueError(f"expected accumulate >= 1 (batches per update), got {accumulate}")
        interval = scheduler_interval or getattr(scheduler, "interval", "step")
        if interval not in INTERVALS:
            raise ValueError(f"expected scheduler_interval in {INTERVALS}, got {interval!r}")
        self.clip_grad_norm = clip_grad_norm
        self.accumulate = accumulate
        self.factory = scheduler
        self.interval = interval
        self.scheduler: LRScheduler | None = None
        self.ema = ParameterEMA(ema_decay) if ema_decay is not None else None
        self.pending = 0  # batches whose gradients wait for the next update

    @property
    def plain(self) -> bool:
        """No option is on: the trainer steps as it would without this rule."""
        return (
            self.clip_grad_norm is None
            and self.accumulate == 1
            and self.factory is None
            and self.ema is None
        )

    def attach(self, optim: torch.optim.Optimizer) -> None:
        """Builds the scheduler over ``optim``."""
        if self.factory is not None and self.scheduler is None:
            self.scheduler = self.factory(optim)
            if not isinstance(self.scheduler, LRScheduler):
                raise TypeError(
                    "scheduler= must build a torch.optim.lr_scheduler.LRScheduler from the "
                    f"optimizer; it returned {type(self.scheduler).__name__}"
                )

    @property
    def starts_window(self) -> bool:
        """Whether this batch's gradients start a new window (the old ones are spent)."""
        return self.pending == 0

    def add_batch(self) -> bool:
        """Counts one batch's gradients in; whether the window is complete."""
        self.pending += 1
        return self.pending == self.accumulate

    def rescale_partial(self, params: Sequence[torch.Tensor]) -> bool:
        """An incomplete window (end of epoch): its gradients, added as ``1/N`` of each
        batch's, become the mean over the ``k < N`` batches it has. Whether there is one."""
        if self.pending == 0:
            return False
        if self.pending < self.accumulate:
            grads = [p.grad for p in params if p.grad is not None]
            torch._foreach_mul_(grads, self.accumulate / self.pending)
        return True

    def before_update(self, params: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Clips the gradients; returns the pre-clip norm as ``grad_norm`` when clipping."""
        self.pending = 0
        if self.clip_grad_norm is None:
            return {}
        grads = [p for p in params if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(grads, self.clip_grad_norm, foreach=True)
        return {"grad_norm": norm.detach()}

    def after_update(self, params: Sequence[torch.Tensor]) -> None:
        if self.ema is not None:
            self.ema.update(params)
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()

    def end_epoch(self) -> None:
        if self.scheduler is not None and self.interval == "epoch":
            self.scheduler.step()

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])


class UpdateSteps:
    """The trainer's side of an :class:`UpdateRule` (mixed into
    :class:`~pyrogen.infer.SVITrainer`): the update, the epoch hook, the average."""

    _rule: UpdateRule
    _params: list[torch.Tensor]

    if TYPE_CHECKING:  # provided by the trainer this is mixed into

        def _optimizer_step(self) -> None: ...

    def _update(self) -> dict[str, torch.Tensor]:
        """Clipping, the optimizer step, the average and the step-wise schedule."""
        metrics = self._rule.before_update(self._params)
        self._optimizer_step()
        self._rule.after_update(self._params)
        return metrics

    def end_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called by :func:`~pyrogen.infer.fit` after each epoch's training steps: applies an
        incomplete accumulation window (the mean of its batches' gradients) and steps an
        epoch-wise scheduler."""
        if self._rule.rescale_partial(self._params):
            self._update()
        self._rule.end_epoch()

    @property
    def between_updates(self) -> bool:
        """No batch's gradients wait for an update: the state saved now is the whole state,
        so :func:`~pyrogen.infer.fit` may checkpoint within an epoch (a window of gradient
        accumulation in progress is not saved; fit waits for its update)."""
        return self._rule.pending == 0

    @property
    def scheduler(self) -> LRScheduler | None:
        """The learning-rate scheduler (built with the optimizer, on the first batch)."""
        return self._rule.scheduler

    @property
    def ema(self) -> ParameterEMA | None:
        """The moving average of the parameters (``ema_decay=``), else ``None``."""
        return self._rule.ema

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """The parameters hold their moving average meanwhile (e.g. to sample from it)."""
        if self._rule.ema is None:
            raise ValueError("this trainer keeps no moving average: pass ema_decay= to keep one")
        with self._rule.ema.swapped(self._params):
            yield
