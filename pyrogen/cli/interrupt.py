"""What ``pyrogen train`` says when Ctrl-C stops it: where training stopped, the checkpoint
it wrote, and the command that resumes the run, instead of a ``KeyboardInterrupt``
traceback (see :mod:`pyrogen.infer.interrupt`)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from pyrogen.infer.fit import CHECKPOINT
from pyrogen.infer.interrupt import TrainingInterrupted

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C


def resume_command(argv: Sequence[str], out: str | Path) -> str:
    """The command that resumes the run: the same arguments, with ``--out`` the run
    directory (added when the run directory was named by ``pyrogen train`` itself)."""
    args = list(argv)
    given = any(a == "--out" or a.startswith("--out=") for a in args)
    if not given:
        args += ["--out", str(out)]
    return shlex.join(["pyrogen", *args])


def report_interrupt(error: KeyboardInterrupt, argv: Sequence[str], out: str | None) -> int:
    """Prints, on standard error, what Ctrl-C left and how to resume; returns the exit
    status.

    Args:
        error: :class:`~pyrogen.infer.interrupt.TrainingInterrupted` when training stopped
            after writing its checkpoint, a plain ``KeyboardInterrupt`` when Ctrl-C came
            before training (or a second Ctrl-C quit at once).
        argv: the command's arguments, after ``pyrogen``.
        out: ``--out`` as given, if any.
    """
    if isinstance(error, TrainingInterrupted) and error.checkpoint is not None:
        run = Path(error.checkpoint).parent
        print(
            f"interrupted: training stopped at {error.where}; its checkpoint is "
            f"{error.checkpoint}\nresume with: {resume_command(argv, run)}",
            file=sys.stderr,
        )
    elif out is not None and (Path(out) / CHECKPOINT).is_file():
        print(
            f"interrupted (Ctrl-C); the run resumes from its last checkpoint, "
            f"{Path(out) / CHECKPOINT}, with: {resume_command(argv, out)}",
            file=sys.stderr,
        )
    else:
        print("interrupted (Ctrl-C) before any checkpoint was written", file=sys.stderr)
    return EXIT_INTERRUPTED
