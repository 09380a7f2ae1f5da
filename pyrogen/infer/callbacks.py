"""Hooks into :func:`~pyrogen.infer.fit`: per-step and per-epoch callbacks, and the loggers
built on them (the ``metrics.csv`` file, TensorBoard).

A callback is any object with some of these methods (each optional):

- ``on_step(step, metrics)``: after every training step; ``step`` counts steps from 1 over
  the whole run (a resumed run continues the count), ``metrics`` holds the step's 0-dim
  tensors (reading one with ``float`` waits for the device: do it every so many steps);
- ``on_epoch(epoch, metrics)``: after every epoch, with the row ``fit`` returns for it
  (``epoch``, ``train_*``, ``test_*``, ``seconds``: floats), after its checkpoint is written;
- ``on_end(history)``: once, when ``fit`` returns or stops early.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from pyrogen.infer.atomic_write import atomic_write


def call_hooks(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    """Calls ``cb.<hook>(*args)`` on every callback that has it."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if callable(fn):
            fn(*args)


class MetricsCSV:
    """Writes every epoch's row to a CSV file, rewritten atomically after each epoch (a
    crash never leaves a half-written file; the columns grow if a later row has new keys).

    Args:
        path: the CSV file.
        rows: the rows of earlier epochs (a resumed run's history).
    """

    def __init__(self, path: str | os.PathLike[str], rows: Sequence[Mapping[str, float]] = ()):
        self.path = Path(path)
        self.rows = [dict(r) for r in rows]

    def on_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.rows.append(dict(metrics))
        self.write()

    def sync(self) -> None:
        """Rewrites the file unless it holds as many rows as this (a run killed between its
        checkpoint and this file leaves it one epoch behind the history it resumes)."""
        try:
            with self.path.open(newline="") as f:
                held = sum(1 for _ in csv.DictReader(f))
        except (OSError, csv.Error, UnicodeDecodeError):
            held = -1
        if held != len(self.rows):
            self.write()

    def write(self) -> None:
        """Writes the rows held so far."""
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.path, lambda f: f.write(text.getvalue().encode()))


class TensorBoardLogger:
    """Scalars for TensorBoard (``tensorboard --logdir DIR``): every epoch's metrics as
    ``epoch/<key>`` against the epoch, and every ``every`` steps the step's metrics as
    ``step/<key>`` against the step (each read waits for the device).

    Needs the ``tensorboard`` package (``pip install pyrogen[tensorboard]``).

    Args:
        log_dir: where the event files go (a resumed run adds a file beside the old ones).
        every: steps between step scalars; ``0`` logs epochs only.
    """

    def __init__(self, log_dir: str | os.PathLike[str], every: int = 100):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: "
                "pip install 'pyrogen[tensorboard]'"
            ) from e
        if every < 0:
            raise ValueError(f"expected every >= 0 steps, got {every}")
        self.every = every
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def on_step(self, step: int, metrics: Mapping[str, torch.Tensor]) -> None:
        if self.every and step % self.every == 0:
            for k, v in metrics.items():
                self.writer.add_scalar(f"step/{k}", float(v), step)

    def on_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        for k, v in metrics.items():
            if k != "epoch":
                self.writer.add_scalar(f"epoch/{k}", v, epoch)
        self.writer.flush()

    def on_end(self, history: Sequence[Mapping[str, float]]) -> None:
        self.writer.close()
