"""Ctrl-C during :func:`~pyrogen.infer.fit`: finish the step, save it, say how to resume.

Python turns Ctrl-C (``SIGINT``) into a ``KeyboardInterrupt`` wherever the program happens
to be: between two parameter updates of one optimizer step, or half-way through a
checkpoint. While ``fit`` trains, :class:`StopRequests` instead records the request; ``fit``
honours it after the step that runs (once the updates it started are applied), writes a
checkpoint of that step and raises :class:`TrainingInterrupted`, whose message says where
training stopped and how to resume. A second Ctrl-C quits at once, with the usual
``KeyboardInterrupt`` (the checkpoint written last stays intact: checkpoints are atomic).

A second signal within :data:`SAME_REQUEST_SECONDS` of the first counts as the same request:
one key press in a terminal reaches the whole process group, so a process under a launcher
that forwards signals (``torchrun``) receives it twice.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import torch
import torch.distributed as dist

from pyrogen.infer.distributed import DistContext
from pyrogen.infer.progress import logger

SAME_REQUEST_SECONDS = 1.0


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after a checkpoint of its last finished step.

    A ``KeyboardInterrupt``, so code that stops on Ctrl-C still does.

    Attributes:
        where: where training stopped, e.g. ``"epoch 2, after 3 of its batches (step 10 of
            the run)"``.
        checkpoint: the checkpoint to resume from, or ``None`` when ``fit`` had no ``out``.
        epoch: the epochs completed.
        step: the steps of the run completed (counted over all epochs).
    """

    def __init__(
        self, message: str, where: str, checkpoint: str | None, epoch: int, step: int
    ) -> None:
        super().__init__(message)
        self.where, self.checkpoint, self.epoch, self.step = where, checkpoint, epoch, step

    def __str__(self) -> str:
        return str(self.args[0])


class StopRequests:
    """Records Ctrl-C while it is :meth:`installed`; :attr:`requested` says whether one came.

    Only the main thread can receive signals: elsewhere :meth:`installed` changes nothing,
    and so it does when the program has its own handler for ``SIGINT`` (it keeps it).
    """

    def __init__(self) -> None:
        self.requested = False
        self._first = 0.0

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if not self.requested:
            self.requested, self._first = True, now
            logger.warning(
                "interrupted: stopping after the current step, once its checkpoint is written "
                "(Ctrl-C again to quit at once)"
            )
        elif now - self._first > SAME_REQUEST_SECONDS:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[StopRequests]:
        """Handles ``SIGINT`` meanwhile; the previous handler is restored after."""
        main = threading.current_thread() is threading.main_thread()
        if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def agreed(self, ctx: DistContext | None) -> bool:
        """Whether to stop now: this process's request, or under data parallelism any rank's
        (a collective that every rank calls at the same step, so that all stop at it)."""
        if ctx is None:
            return self.requested
        flag = torch.tensor([float(self.requested)], device=ctx.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
