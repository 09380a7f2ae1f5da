"""When and where :func:`~pyrogen.infer.fit` checkpoints a run, and what its last checkpoint
holds.

A run directory's ``checkpoint.pt`` is rewritten atomically at the end of every epoch and,
with ``minutes`` set, within an epoch: after the first step that ends ``minutes`` or more
after the last checkpoint, so a long epoch is never lost whole. A crash or ``SIGKILL`` loses
at most the steps since the last checkpoint; the next run resumes from it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyrogen.infer.atomic_write import remove_stale_temporaries
from pyrogen.infer.checkpoint import CheckpointWriteError, save_checkpoint
from pyrogen.infer.distributed import DistContext, PeerLostError, is_peer_failure
from pyrogen.infer.interrupt import TrainingInterrupted


def describe(state: dict[str, Any]) -> str:
    """Where a checkpoint's state stands: ``"the end of epoch 3 (step 240 of the run)"``, or
    within an epoch ``"epoch 4, after 20 of its batches (step 260 of the run)"``."""
    epochs, steps = int(state["epoch"]), int(state.get("steps", 0))
    within = state.get("within_epoch")
    if within is None or not within["batches"]:
        return f"the end of epoch {epochs} (step {steps} of the run)"
    return f"epoch {epochs + 1}, after {within['batches']} of its batches (step {steps} of the run)"


class RunCheckpoints:
    """The checkpoints of one run.

    Args:
        path: ``out/checkpoint.pt``; ``None`` keeps nothing.
        best: ``out/best.pt`` (early stopping), or ``None``.
        writer: whether this process writes (rank 0 of a data-parallel run); the others
            keep the same account.
        minutes: the period of checkpoints within an epoch (> 0), ``None`` for epoch ends
            only.
        resumed: the state the run resumed from, ``{}`` for a fresh run.
    """

    def __init__(
        self,
        path: Path | None,
        best: Path | None,
        writer: bool,
        minutes: float | None,
        resumed: dict[str, Any],
    ):
        if minutes is not None and not minutes > 0:
            raise ValueError(
                f"expected checkpoint_minutes > 0 (minutes between checkpoints within an "
                f"epoch) or None (at epoch ends only), got {minutes}"
            )
        self.path, self.best, self.writer, self.minutes = path, best, writer, minutes
        self.last = _summary(resumed) if resumed else None
        self._since = time.monotonic()
        if writer and path is not None:  # the temporary files of a writer that was killed
            for stale in (path, best):
                if stale is not None:
                    remove_stale_temporaries(stale)

    @property
    def saved(self) -> int:
        """Epochs completed in the last checkpoint written or resumed (0: none)."""
        return 0 if self.last is None else int(self.last["epoch"])

    @property
    def within(self) -> int:
        """Batches of the next epoch in the last checkpoint (0: it is an epoch's end)."""
        within = None if self.last is None else self.last.get("within_epoch")
        return 0 if within is None else int(within["batches"])

    @property
    def kept(self) -> tuple[int, int]:
        """``(saved, within)``, as :mod:`pyrogen.infer.divergence` reports them."""
        return self.saved, self.within

    def due(self) -> bool:
        """Whether a checkpoint within the epoch is due."""
        if self.path is None or self.minutes is None:
            return False
        return time.monotonic() - self._since >= 60.0 * self.minutes

    def save(self, state: dict[str, Any], best: bool = False) -> None:
        """Writes ``state`` (also as ``best.pt`` when ``best``) if this process writes.

        Raises:
            CheckpointWriteError: it could not be written; the message says where training
                stopped and which checkpoint the run resumes from.
        """
        if self.path is None:
            return
        if self.writer:
            try:
                if best and self.best is not None:  # before the checkpoint, which commits
                    save_checkpoint(self.best, state)
                save_checkpoint(self.path, state)
            except CheckpointWriteError as e:
                previous = "none" if self.last is None else describe(self.last)
                raise CheckpointWriteError(
                    e.errno,
                    f"{e}. Training stopped at {describe(state)}; the last checkpoint "
                    f"written holds {previous}",
                ) from e
        self.last = _summary(state)
        self._since = time.monotonic()


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    """What :func:`describe` reads of a state (the state itself holds the whole model)."""
    within = state.get("within_epoch")
    summary = {"epoch": state["epoch"], "steps": state.get("steps", 0)}
    if within is not None:
        summary["within_epoch"] = {"batches": within["batches"]}
    return summary


def interrupted(
    saver: RunCheckpoints, epochs: int, batches: int, steps: int
) -> TrainingInterrupted:
    """The error that ends a run stopped by Ctrl-C after ``epochs`` epochs and ``batches``
    batches of the next (``steps`` in all), once its checkpoint is written."""
    where = describe({"epoch": epochs, "steps": steps, "within_epoch": {"batches": batches}})
    if saver.path is None:
        message = (
            f"training interrupted at {where}; nothing was saved (pass out=DIR to fit to keep "
            f"checkpoints)"
        )
        return TrainingInterrupted(message, where, None, epochs, steps)
    message = (
        f"training interrupted at {where}; its checkpoint is {saver.path}: call fit again "
        f"with the same out= to resume from it"
    )
    return TrainingInterrupted(message, where, str(saver.path), epochs, steps)


@contextmanager
def peer_failures(
    saver: RunCheckpoints, ctx: DistContext | None, steps: Callable[[], int]
) -> Iterator[None]:
    """Under data parallelism, turns a failed collective into :class:`PeerLostError`, which
    says which checkpoint the run resumes from; ``steps()`` counts the steps done."""
    try:
        yield
    except RuntimeError as e:
        if ctx is None or not is_peer_failure(e):
            raise
        raise peer_lost(saver, ctx, steps(), e) from e


def peer_lost(
    saver: RunCheckpoints, ctx: DistContext, steps: int, error: BaseException
) -> PeerLostError:
    """The error of a process whose data-parallel peer died or hung, after ``steps`` steps."""
    # gloo's first sentence, without the source location in front: "[.../pair.cc:537] Read
    # error [127.0.0.1]:40359: Connection reset by peer. This is typically caused by ..."
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    reason = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", text).split(". ")[0]
    if saver.path is None:
        kept = "no checkpoint was written (pass out=DIR to fit to keep one)"
    elif not saver.writer:
        kept = f"rank 0 wrote this run's checkpoints to {saver.path}"
    elif saver.last is None:
        kept = f"no checkpoint was written yet to {saver.path}"
    else:
        kept = f"the last checkpoint, {saver.path}, holds {describe(saver.last)}"
    return PeerLostError(
        f"rank {ctx.rank} of {ctx.world_size} stopped after step {steps} of the run: a "
        f"collective operation failed ({reason}); another process of the run died, hung "
        f"longer than the process group's timeout, or cannot be reached. {kept[0].upper()}"
        f"{kept[1:]}; the run resumes from its last checkpoint on any number of processes "
        f"(on one: the same command or script without torchrun)"
    )
