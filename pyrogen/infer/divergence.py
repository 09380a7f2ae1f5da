"""NaN/inf detection in training: a clear error that says where, and which checkpoint is kept."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from pyrogen.infer.stepper import Stepper


class TrainingDivergedError(RuntimeError):
    """A loss or a parameter became NaN or infinite during training."""


def diverged(
    what: str, epoch: int, step: int | None, ckpt: Path | None, saved: int, within: int = 0
) -> None:
    """Raises :class:`TrainingDivergedError`: ``what`` became NaN/inf at ``epoch`` (from 0),
    ``step`` (of the epoch, from 0); the last checkpoint holds ``saved`` epochs and
    ``within`` batches of the next."""
    where = f"epoch {epoch + 1}" + (f", step {step + 1}" if step is not None else "")
    if ckpt is None:
        kept = "no checkpoint was written (pass out=DIR to keep one)"
    elif within > 0:
        kept = (
            f"the last good checkpoint (epoch {saved + 1}, after {within} of its batches) is "
            f"kept at {ckpt}"
        )
    elif saved > 0:
        kept = f"the checkpoint of the last good epoch ({saved}) is kept at {ckpt}"
    else:
        kept = f"nothing was saved by this run; {ckpt} is left as it was"
    raise TrainingDivergedError(
        f"training diverged at {where}: {what} is NaN or infinite; {kept}. "
        "Try a smaller learning rate, check the data for extreme values, or clip gradients."
    )


def check_finite_loss(
    loss: float, epoch: int, step: int | None, ckpt: Path | None, saved: int, within: int = 0
) -> None:
    if not math.isfinite(loss):
        diverged("the loss", epoch, step, ckpt, saved, within)


def check_finite_params(
    stepper: Stepper, epoch: int, ckpt: Path | None, saved: int, within: int = 0
) -> None:
    for name, p in stepper.module.named_parameters():
        if not bool(torch.isfinite(p).all()):
            diverged(f"parameter {name!r}", epoch, None, ckpt, saved, within)
