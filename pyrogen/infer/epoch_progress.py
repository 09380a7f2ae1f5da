"""Where training stands within an epoch: the part of a mid-epoch checkpoint that says where
to continue.

A checkpoint written within an epoch (every few minutes, or on Ctrl-C) holds, besides the
stepper and the random state after its last step, an :class:`EpochProgress`: the batches of
the epoch already trained on, the sums behind the epoch's mean metrics, and the random state
at the epoch's start. :func:`~pyrogen.infer.fit` resumes from it by drawing the epoch's
batches as the interrupted run did (the order of a DataLoader with ``shuffle=True`` comes
from the global generator at the epoch's start), leaving out those already trained on, and
restoring the random state of the last step before the next: the rest of the epoch is the
uninterrupted run's, and so is the epoch's row of metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from pyrogen.infer.checkpoint import CheckpointError


@dataclass
class EpochProgress:
    """One epoch's progress.

    Attributes:
        epoch: the epoch's index, from 0.
        batches: its batches trained on.
        examples: the examples of those batches (where the epoch continues, whatever the
            batch size it continues with).
        totals: per metric, the sum over those batches of ``value * batch size``, a 0-dim
            tensor (read only when the epoch ends: no host sync per step).
        counts: per metric, the examples of the batches that reported it.
        start_rng: :func:`~pyrogen.infer.checkpoint.rng_state` at the epoch's start.
        seconds: time spent on the epoch by earlier processes (a resumed epoch).
    """

    epoch: int
    batches: int = 0
    examples: int = 0
    totals: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    start_rng: dict[str, Any] | None = None
    seconds: float = 0.0
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def add(self, metrics: dict[str, torch.Tensor], size: int) -> None:
        """Counts one step's metrics, averaged over the examples of the steps that report
        each key (e.g. ``grad_norm`` only on the steps that update)."""
        for k, v in metrics.items():
            self.totals[k] = self.totals.get(k, 0) + v.detach() * size
            self.counts[k] = self.counts.get(k, 0) + size
        self.batches += 1
        self.examples += size

    def means(self) -> dict[str, float]:
        """``train_<key>``: each metric's mean over the examples of the epoch so far."""
        return {f"train_{k}": float(v) / self.counts[k] for k, v in self.totals.items()}

    def elapsed(self) -> float:
        """Seconds spent on the epoch, by this process and those before it."""
        return self.seconds + time.perf_counter() - self._t0

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors, for a checkpoint."""
        return {
            "epoch": self.epoch,
            "batches": self.batches,
            "examples": self.examples,
            "totals": dict(self.totals),
            "counts": dict(self.counts),
            "start_rng": self.start_rng,
            "seconds": self.elapsed(),
        }

    def check_fits(self, num_examples: int | None, checkpoint: object) -> None:
        """Raises :class:`~pyrogen.infer.checkpoint.CheckpointError` unless the data, of
        ``num_examples`` per epoch (``None``: unknown), hold the examples trained on."""
        if num_examples is not None and self.examples > num_examples:
            raise CheckpointError(
                f"checkpoint {checkpoint} was written after {self.examples} examples of epoch "
                f"{self.epoch + 1}, but the training data now hold {num_examples}: resume "
                f"with the data the run was started with"
            )

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EpochProgress:
        """The progress a checkpoint's :meth:`state_dict` describes."""
        return cls(
            epoch=int(state["epoch"]),
            batches=int(state["batches"]),
            examples=int(state["examples"]),
            totals=dict(state["totals"]),
            counts={k: int(v) for k, v in state["counts"].items()},
            start_rng=state["start_rng"],
            seconds=float(state["seconds"]),
        )
