r"""The training loop: one function trains any stepper (SVI, adversarial, ...) on a dataset.

``fit`` adds what a research run needs around ``stepper.step``: device placement, seeding,
a progress bar, per-epoch train/test metrics written to ``metrics.csv``, atomic checkpoints
holding the module, optimizer and RNG states (so an interrupted run resumes exactly), and
detection of NaN/inf that stops with a clear message while keeping the last good checkpoint.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyro
import torch
from pyro.infer import SVI
from tqdm.auto import tqdm

from pyrogen.infer.checkpoint import (
    apply_default_permissions,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from pyrogen.infer.distributed import barrier, init_from_env
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.infer.trainer import Stepper
from pyrogen.validation import check_finite

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"


class TrainingDivergedError(RuntimeError):
    """A loss or a parameter became NaN or infinite during training."""


class EpochData(Protocol):
    """A dataset that may change from epoch to epoch (e.g. dynamic binarization)."""

    x: torch.Tensor

    def epoch(self, generator: torch.Generator | None = None) -> torch.Tensor: ...


Data = torch.Tensor | EpochData


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _epoch_tensor(data: Data, generator: torch.Generator) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data
    if hasattr(data, "epoch"):
        return data.epoch(generator)
    raise TypeError(
        f"data must be a tensor (N, ...) or a pyrogen.data dataset, got {type(data).__name__}"
    )


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # A generator per (seed, epoch): shuffling and data resampling do not depend on how many
    # random numbers the model drew, so a resumed run sees the same batches.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _validate(stepper: Stepper, x: torch.Tensor) -> None:
    """Checks the whole dataset once, before any training step, with the model's own checks
    (shape, finiteness, support of the likelihood) when it has them."""
    check_x = getattr(stepper.module, "check_x", None)
    with pyro.validation_enabled(True):
        if callable(check_x):
            check_x(x)
        else:
            check_finite(x, "training data")


def _write_metrics(path: Path, history: Sequence[dict[str, float]]) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    fd, tmp = tempfile.mkstemp(prefix=".metrics.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    apply_default_permissions(tmp)
    os.replace(tmp, path)


def _mean_metrics(
    fn: Callable[[torch.Tensor], dict[str, torch.Tensor]], x: torch.Tensor, batch_size: int
) -> dict[str, torch.Tensor]:
    totals: dict[str, torch.Tensor] = {}
    for i in range(0, x.shape[0], batch_size):
        batch = x[i : i + batch_size]
        for k, v in fn(batch).items():
            totals[k] = totals.get(k, 0) + v.detach() * batch.shape[0]
    return {k: v / x.shape[0] for k, v in totals.items()}


def fit(
    stepper: Stepper | SVI,
    data: Data,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    test_data: Data | None = None,
    device: str | torch.device = "auto",
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    resume: bool = True,
    progress: bool = True,
    check_every: int = 100,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Trains ``stepper`` for ``epochs`` passes over ``data``.

    Args:
        stepper: a :class:`~pyrogen.infer.trainer.Stepper` (e.g.
            :class:`~pyrogen.infer.SVITrainer`, an adversarial trainer) or a
            :class:`pyro.infer.SVI` object.
        data: training data, a tensor ``(N, ...)`` or a :mod:`pyrogen.data` dataset (which
            may resample, e.g. dynamic binarization, every epoch).
        epochs: total number of epochs (a resumed run continues up to this number).
        batch_size: examples per step; the last batch of an epoch may be smaller.
        test_data: evaluated after every epoch (a dynamically binarized test set is
            binarized once, with a fixed seed, so epochs are comparable).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        out: run directory for ``checkpoint.pt`` and ``metrics.csv``; ``None`` keeps
            nothing on disk.
        seed: seeds Pyro/torch/numpy/random at the start and every epoch's shuffling.
        resume: continue from ``out/checkpoint.pt`` when it exists.
        progress: show a tqdm progress bar.
        check_every: steps between NaN/inf checks of the loss (each check syncs the host).
        callback: called as ``callback(epoch, metrics)`` after every epoch.

    Under ``torchrun`` (or in an initialized process group) every rank runs ``fit`` with the
    same arguments: each global batch of ``batch_size`` examples is split across the ranks,
    gradients are averaged by DistributedDataParallel (see
    :mod:`pyrogen.infer.distributed`; the stepper needs a ``distribute(ctx)`` method, as
    :class:`~pyrogen.infer.SVITrainer` has), and rank 0 alone writes the checkpoint, the
    metrics and the progress bar.

    Returns:
        One dict of metrics per epoch: ``epoch``, ``train_<key>`` and ``test_<key>`` for
        every key the stepper reports (for SVI: ``loss`` = -ELBO and ``elbo``, in nats per
        example), and ``seconds``.

    Raises:
        TrainingDivergedError: a loss or parameter became NaN/inf; the checkpoint of the
            last good epoch is left in place.
    """
    if isinstance(stepper, SVI):
        stepper = SVIAdapter(stepper)
    if not isinstance(stepper, Stepper):
        raise TypeError(
            "fit needs a stepper with module, step(x), evaluate(x), state_dict() and "
            f"load_state_dict(); got {type(stepper).__name__}. Wrap a model as "
            "pyrogen.infer.SVITrainer(model, loss)."
        )
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"expected epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    dev = resolve_device(device)
    ctx = init_from_env(dev)
    if ctx is not None:
        dev = ctx.device
        progress = progress and ctx.is_main
    is_writer = ctx is None or ctx.is_main
    stepper.module.to(dev)
    out_dir = Path(out) if out is not None else None
    ckpt = out_dir / CHECKPOINT if out_dir is not None else None

    history: list[dict[str, float]] = []
    start_epoch = 0
    if ckpt is not None and resume and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=dev)
        stepper.load_state_dict(state["stepper"])
        set_rng_state(state["rng"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
    else:
        pyro.set_rng_seed(seed)

    if ctx is not None:
        distribute = getattr(stepper, "distribute", None)
        if not callable(distribute):
            raise TypeError(
                f"{type(stepper).__name__} cannot train data-parallel (it has no "
                f"distribute(ctx) method); run it in a single process, without torchrun"
            )
        distribute(ctx)

    first_epoch = start_epoch
    saved = start_epoch  # the last epoch whose checkpoint this run wrote or resumed from
    first = _epoch_tensor(data, epoch_generator(seed, start_epoch))
    _validate(stepper, first)
    test_x = None
    if test_data is not None:
        test_x = _epoch_tensor(test_data, epoch_generator(seed, -1)).to(dev)
        _validate(stepper, test_x)

    n = first.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    # The data were checked above; per-step distribution argument checks would only cost time.
    with pyro.validation_enabled(False):
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            gen = epoch_generator(seed, epoch)
            xe = first if epoch == first_epoch else _epoch_tensor(data, gen)
            if dev.type == "cuda" and xe.device.type == "cpu":
                # Page-locked host memory lets the copy run asynchronously.
                xe = xe.pin_memory()
            xe = xe.to(dev, non_blocking=True)
            perm = torch.randperm(n, generator=gen).to(dev)
            totals: dict[str, torch.Tensor] = {}
            bar = tqdm(
                range(steps_per_epoch),
                desc=f"epoch {epoch + 1}/{epochs}",
                disable=not progress,
                leave=False,
            )
            for step in bar:
                idx = perm[step * batch_size : (step + 1) * batch_size]
                metrics = stepper.step(xe[idx])
                for k, v in metrics.items():
                    totals[k] = totals.get(k, 0) + v.detach() * idx.shape[0]
                if (step + 1) % check_every == 0 or step + 1 == steps_per_epoch:
                    loss = float(metrics["loss"])
                    bar.set_postfix(loss=f"{loss:.3f}")
                    _check_finite_loss(loss, epoch, step, ckpt, saved)
            _check_finite_params(stepper, epoch, ckpt, saved)
            row: dict[str, float] = {"epoch": epoch + 1}
            row.update({f"train_{k}": float(v) / n for k, v in totals.items()})
            if test_x is not None:
                test = _mean_metrics(stepper.evaluate, test_x, batch_size)
                row.update({f"test_{k}": float(v) for k, v in test.items()})
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            if is_writer and out_dir is not None and ckpt is not None:
                save_checkpoint(
                    ckpt,
                    {
                        "stepper": stepper.state_dict(),
                        "epoch": epoch + 1,
                        "rng": rng_state(),
                        "history": history,
                    },
                )
                _write_metrics(out_dir / METRICS, history)
            if out_dir is not None:
                barrier()  # no rank runs ahead of (or resumes from) a half-written epoch
                saved = epoch + 1
            if callback is not None:
                callback(epoch + 1, row)
            if progress:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
                tqdm.write(f"epoch {epoch + 1}/{epochs}: {shown}")
    return history


def _diverged(what: str, epoch: int, step: int | None, ckpt: Path | None, saved: int) -> None:
    where = f"epoch {epoch + 1}" + (f", step {step + 1}" if step is not None else "")
    if ckpt is None:
        kept = "no checkpoint was written (pass out=DIR to keep one)"
    elif saved > 0:
        kept = f"the checkpoint of the last good epoch ({saved}) is kept at {ckpt}"
    else:
        kept = f"nothing was saved by this run; {ckpt} is left as it was"
    raise TrainingDivergedError(
        f"training diverged at {where}: {what} is NaN or infinite; {kept}. "
        "Try a smaller learning rate, check the data for extreme values, or clip gradients."
    )


def _check_finite_loss(loss: float, epoch: int, step: int, ckpt: Path | None, saved: int) -> None:
    if not math.isfinite(loss):
        _diverged("the loss", epoch, step, ckpt, saved)


def _check_finite_params(stepper: Stepper, epoch: int, ckpt: Path | None, saved: int) -> None:
    for name, p in stepper.module.named_parameters():
        if not bool(torch.isfinite(p).all()):
            _diverged(f"parameter {name!r}", epoch, None, ckpt, saved)


def load_stepper_state(stepper: Stepper, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Loads the checkpoint of run directory ``out`` into ``stepper``; returns the state."""
    state = load_checkpoint(Path(out) / CHECKPOINT)
    stepper.load_state_dict(state["stepper"])
    return state
