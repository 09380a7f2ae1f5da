r"""The training loop: one function trains any stepper (SVI, adversarial, ...) on a dataset.

``fit`` adds what a research run needs around ``stepper.step``: batches of tensors, of tuples
or dicts of tensors, of Datasets and DataLoaders (:mod:`pyrogen.infer.batches`), device
placement, seeding, progress (:mod:`pyrogen.infer.progress`), per-epoch train/test metrics
written to ``metrics.csv``, per-step and per-epoch callbacks (:mod:`pyrogen.infer.callbacks`,
e.g. TensorBoard), atomic checkpoints holding the module, optimizer and RNG states at every
epoch's end and every few minutes within an epoch (:mod:`pyrogen.infer.run_checkpoints`; an
interrupted or killed run resumes exactly, from the step it saved last:
:mod:`pyrogen.infer.epoch_progress`), a clean stop on Ctrl-C with a checkpoint of the last
finished step (:mod:`pyrogen.infer.interrupt`), early stopping on the test loss with the
best checkpoint kept (:mod:`pyrogen.infer.early_stopping`), and detection of NaN/inf that
stops with a clear message while keeping the last good checkpoint
(:mod:`pyrogen.infer.divergence`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro.infer import SVI
from torch.utils.data import DataLoader

from pyrogen.infer.atomic_write import remove_stale_temporaries
from pyrogen.infer.batch import Batch, Metrics, check_batch
from pyrogen.infer.batches import Data, batch_source
from pyrogen.infer.callbacks import MetricsCSV, call_hooks
from pyrogen.infer.checkpoint import load_checkpoint, rng_state, set_rng_state
from pyrogen.infer.distributed import barrier, init_from_env
from pyrogen.infer.divergence import TrainingDivergedError, check_finite_loss, check_finite_params
from pyrogen.infer.early_stopping import EarlyStopping
from pyrogen.infer.epoch_progress import EpochProgress
from pyrogen.infer.interrupt import StopRequests, TrainingInterrupted
from pyrogen.infer.progress import bar, logger, showing
from pyrogen.infer.run_checkpoints import RunCheckpoints, interrupted, peer_failures
from pyrogen.infer.stepper import Stepper
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.validation import check_device, check_positive_int

__all__ = [
    "TrainingDivergedError",
    "TrainingInterrupted",
    "fit",
    "load_stepper_state",
    "resolve_device",
]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
BEST = "best.pt"
DEFAULT_BATCH_SIZE = 128


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; any other name must be a device
    this machine has (``ValueError`` lists the valid choices)."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_device(device)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # A generator per (seed, epoch): shuffling and data resampling do not depend on how many
    # random numbers the model drew, so a resumed run sees the same batches.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _mean_metrics(fn: Callable[..., Metrics], batches: Iterable[Batch]) -> Metrics:
    """``fn``'s metrics averaged over the examples of ``batches`` (weighted by batch size)."""
    totals: Metrics = {}
    n = 0
    for batch in batches:
        for k, v in batch.call(fn).items():
            totals[k] = totals.get(k, 0) + v.detach() * batch.size
        n += batch.size
    return {k: v / n for k, v in totals.items()}


def fit(
    stepper: Stepper | SVI,
    data: Data,
    *,
    epochs: int = 10,
    batch_size: int | None = None,
    test_data: Data | None = None,
    device: str | torch.device = "auto",
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    resume: bool = True,
    progress: bool = True,
    check_every: int = 100,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    callbacks: Sequence[Any] = (),
    early_stopping: int | None = None,
    checkpoint_minutes: float | None = 10.0,
) -> list[dict[str, float]]:
    """Trains ``stepper`` for ``epochs`` passes over ``data``.

    Each batch holds the model's arguments and is passed on as ``stepper.step(*batch)``
    (a tensor or a tuple/list of tensors) or ``stepper.step(**batch)`` (a dict), e.g.
    ``model(x, y)`` for a conditional model trained on ``(x, y)``; ``stepper.evaluate``
    receives the test batches the same way. Metrics are averaged over examples, the size of
    a batch being the leading dimension of its first tensor.

    Args:
        stepper: a :class:`~pyrogen.infer.stepper.Stepper` (e.g.
            :class:`~pyrogen.infer.SVITrainer`, an adversarial trainer) or a
            :class:`pyro.infer.SVI` object.
        data: training data, one of

            - a tensor ``(N, ...)``: batches ``(B, ...)``, one argument;
            - a tuple/list of tensors ``(N, ...)`` sharing ``N``, e.g. ``(x, y)``: batches
              ``(x[rows], y[rows])``, positional arguments;
            - a dict of tensors ``(N, ...)`` sharing ``N``: batches ``{name: t[rows]}``,
              keyword arguments;
            - a :mod:`pyrogen.data` dataset: its ``epoch(generator)`` returns the epoch's
              tensor ``(N, ...)`` (it may resample, e.g. dynamic binarization);
            - a map-style :class:`~torch.utils.data.Dataset` with ``__len__``, whose items are
              a tensor ``(...)``, a tuple or a dict of tensors: batched and collated by fit,
              in an order drawn from the seed and the epoch, one batch in memory at a time;
            - a :class:`~torch.utils.data.DataLoader` yielding batches of those three kinds:
              iterated as given every epoch (its own sampler, workers and ``pin_memory``),
              one batch in memory at a time; it may be larger than memory, or an
              :class:`~torch.utils.data.IterableDataset` without a length.

            In-memory data (the first four kinds) are checked as a whole before training and
            moved to the device at once; Datasets and DataLoaders are checked and moved batch
            by batch, before the step that uses the batch.
        epochs: total number of epochs, at least 1 (a resumed run continues up to this
            number).
        batch_size: examples per step for tensors and Datasets (``None``: 128); the last
            batch of an epoch may be smaller. A DataLoader batches itself: giving both is
            an error.
        test_data: evaluated after every epoch, in order; the same kinds as ``data`` (a
            dynamically binarized test set is binarized once, with a fixed seed, so epochs
            are comparable).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        out: run directory for ``checkpoint.pt`` and ``metrics.csv``; ``None`` keeps
            nothing on disk.
        seed: seeds Pyro/torch/numpy/random at the start and every epoch's shuffling.
        resume: continue from ``out/checkpoint.pt`` when it exists. The resumed run sees the
            same batches as an uninterrupted one: the order of in-memory data and Datasets is
            drawn from the seed and the epoch alone, and the global torch generator (which a
            DataLoader's ``shuffle=True`` draws from) is restored from the checkpoint.
        progress: show progress and messages on stdout (:mod:`pyrogen.infer.progress`): a
            tqdm bar on a terminal, else one line per epoch; ``False`` shows nothing (the
            messages still go to the ``logging`` logger ``"pyrogen"``).
        check_every: steps between NaN/inf checks of the loss (each check syncs the host).
        callback: called as ``callback(epoch, metrics)`` after every epoch.
        callbacks: objects with ``on_step(step, metrics)``, ``on_epoch(epoch, metrics)``
            and/or ``on_end(history)`` (:mod:`pyrogen.infer.callbacks`), e.g.
            :class:`~pyrogen.infer.callbacks.TensorBoardLogger`.
        early_stopping: stop when ``test_loss`` has not improved for this many epochs
            (needs ``test_data``); the best epoch's checkpoint is kept as ``out/best.pt``.
        checkpoint_minutes: with ``out``, also checkpoint within an epoch, after the first
            step that ends this many minutes (> 0) after the last checkpoint; ``None``: at
            epoch ends only. A run resumed from such a checkpoint continues the epoch at the
            next batch, exactly as if it had not stopped (a DataLoader's batches before it
            are read again and dropped: only the DataLoader knows its order).

    Faults: a crash or ``SIGKILL`` loses at most the steps since the last checkpoint (each is
    written atomically: the previous one or the new one, never half of one); a checkpoint
    that cannot be written (a full disk) stops training with
    :class:`~pyrogen.infer.checkpoint.CheckpointWriteError` and the previous checkpoint
    intact. Ctrl-C stops after the step that runs, writes its checkpoint and raises
    :class:`~pyrogen.infer.interrupt.TrainingInterrupted` saying how to resume (a second
    Ctrl-C quits at once); with gradient accumulation, after the window's update.

    After each epoch's training steps, a stepper with an ``end_epoch(epoch, metrics)``
    method has it called (epoch-wise learning-rate schedules, a last partial window of
    gradient accumulation), before the test metrics and the checkpoint.

    Under ``torchrun`` (or in an initialized process group) every rank runs ``fit`` with the
    same arguments: each global batch of ``batch_size`` examples is split across the ranks,
    gradients are averaged by DistributedDataParallel (see
    :mod:`pyrogen.infer.distributed`; the stepper needs a ``distribute(ctx)`` method, as
    :class:`~pyrogen.infer.SVITrainer` has), and rank 0 alone writes the checkpoint, the
    metrics and the progress bar. Every rank must therefore see the same global batches: a
    DataLoader needs the same seeded order on every rank, not a ``DistributedSampler``.

    Returns:
        One dict of metrics per epoch: ``epoch``, ``train_<key>`` and ``test_<key>`` for
        every key the stepper reports (for SVI: ``loss`` = -ELBO and ``elbo``, in nats per
        example), and ``seconds``.

    Raises:
        TypeError: ``data`` or ``test_data`` is none of the kinds above.
        ValueError: empty data, fields of different leading dimensions, values the model
            rejects (NaN/inf, outside the likelihood's support, wrong shape or dtype; for a
            Dataset or DataLoader the message names the epoch and the batch), ``epochs`` or
            ``batch_size`` below 1, a ``batch_size`` given with a DataLoader, or a
            ``device`` this machine does not have.
        TrainingDivergedError: a loss or parameter became NaN/inf; the last good checkpoint
            is left in place.
        TrainingInterrupted: Ctrl-C (a ``KeyboardInterrupt``); the last finished step is
            checkpointed.
        CheckpointWriteError: a checkpoint could not be written; the previous one is intact.
        PeerLostError: under data parallelism, a collective failed (another process died
            or hung past the process group's timeout); the last checkpoint resumes on any
            number of processes.
    """
    if isinstance(stepper, SVI):
        stepper = SVIAdapter(stepper)
    if not isinstance(stepper, Stepper):
        raise TypeError(
            "fit needs a stepper with module, step(*batch), evaluate(*batch), state_dict() "
            f"and load_state_dict(); got {type(stepper).__name__}. Wrap a model as "
            "pyrogen.infer.SVITrainer(model, loss)."
        )
    if batch_size is not None and isinstance(data, DataLoader):
        raise ValueError(
            f"batch_size={batch_size} was given with a DataLoader, which makes its own "
            "batches: set the batch size on the DataLoader and leave batch_size=None"
        )
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    check_positive_int(epochs, "epochs (the number of passes over the data)")
    check_positive_int(batch_size, "batch_size")
    train = batch_source(data, batch_size, "training")
    test = None if test_data is None else batch_source(test_data, batch_size, "test")
    dev = resolve_device(device)
    ctx = init_from_env(dev)
    if ctx is not None:
        dev = ctx.device
        progress = progress and ctx.is_main
    is_writer = ctx is None or ctx.is_main
    stepper.module.to(dev)
    out_dir = Path(out) if out is not None else None
    ckpt = out_dir / CHECKPOINT if out_dir is not None else None

    best = out_dir / BEST if out_dir is not None else None
    history: list[dict[str, float]] = []
    start_epoch = 0
    resumed: dict[str, Any] = {}
    if ckpt is not None and resume and ckpt.exists():
        resumed = load_checkpoint(ckpt, map_location=dev)
        stepper.load_state_dict(resumed["stepper"])
        set_rng_state(resumed["rng"])
        history = list(resumed["history"])
        start_epoch = int(resumed["epoch"])
    else:
        pyro.set_rng_seed(seed)
    saver = RunCheckpoints(ckpt, best, is_writer, checkpoint_minutes, resumed)
    # A checkpoint written within an epoch: that epoch continues after its last batch.
    within = resumed.get("within_epoch")
    position = None if within is None else EpochProgress.from_state(within)
    if position is not None:
        position.check_fits(train.num_examples(), ckpt)

    if ctx is not None:
        distribute = getattr(stepper, "distribute", None)
        if not callable(distribute):
            raise TypeError(
                f"{type(stepper).__name__} cannot train data-parallel (it has no "
                f"distribute(ctx) method); run it in a single process, without torchrun"
            )
        distribute(ctx)

    check = partial(check_batch, stepper.module)
    # In-memory data are checked whole, now; streamed batches as they arrive.
    train.check_ahead(epoch_generator(seed, start_epoch), check)
    if test is not None:
        test = test.frozen(epoch_generator(seed, -1), dev)
        test.check_ahead(None, check)
    hooks = list(callbacks)
    if is_writer and out_dir is not None:
        metrics_csv = MetricsCSV(out_dir / METRICS, history)
        remove_stale_temporaries(metrics_csv.path)
        if history:  # the run may have been killed between its checkpoint and this file
            metrics_csv.sync()
        hooks.insert(0, metrics_csv)
    stopper = None
    if early_stopping is not None:
        if test is None:
            raise ValueError("early_stopping monitors test_loss: pass test_data to fit")
        stopper = EarlyStopping(early_stopping, history)
    end_epoch = getattr(stepper, "end_epoch", None)
    step_count = int(resumed.get("steps", 0))
    said = False  # which objective path trains: said on the first step
    requests = StopRequests()

    def state(done: int, pos: EpochProgress | None = None) -> dict[str, Any]:
        """A checkpoint after ``done`` epochs and ``pos`` within the next."""
        s: dict[str, Any] = {"epoch": done, "steps": step_count}
        if pos is not None:
            s["within_epoch"] = pos.state_dict()
        if is_writer and ckpt is not None:  # the others only keep count
            s.update(stepper=stepper.state_dict(), rng=rng_state(), history=history)
        return s

    # The data were checked; per-step distribution argument checks would only cost time.
    lost = peer_failures(saver, ctx, lambda: step_count)  # a dead or hung peer: say so
    with pyro.validation_enabled(False), showing(progress), requests.installed(), lost:
        for epoch in range(start_epoch, epochs):
            if stopper is not None and stopper.should_stop:
                break  # a resumed run that had already stopped
            where = f"epoch {epoch + 1}"
            after_skip = None
            if position is not None:  # the epoch's batches as the stopped run drew them
                pos, position = position, None
                if pos.start_rng is not None:
                    set_rng_state(pos.start_rng)
                after_skip = partial(set_rng_state, resumed["rng"])
            else:
                pos = EpochProgress(epoch, start_rng=rng_state() if ckpt is not None else None)
            batches = train.batches(
                epoch_generator(seed, epoch), dev, check, where, pos.examples, after_skip
            )
            desc = f"epoch {epoch + 1}/{epochs}"
            shown = bar(batches, train.num_batches(), desc, progress, initial=pos.batches)
            metrics: Metrics = {}
            for batch in shown:
                metrics = batch.call(stepper.step)
                pos.add(metrics, batch.size)
                step_count += 1
                call_hooks(hooks, "on_step", step_count, metrics)
                if not said:
                    said = True
                    _say_path(stepper)
                if pos.batches % check_every == 0:
                    loss = float(metrics["loss"])
                    if hasattr(shown, "set_postfix"):
                        shown.set_postfix(loss=f"{loss:.3f}")
                    check_finite_loss(loss, epoch, pos.batches - 1, ckpt, *saver.kept)
                if not getattr(stepper, "between_updates", True):
                    continue  # gradients wait for the window's update: not resumable
                stop = requests.agreed(ctx)
                if stop or saver.due():
                    # Never a checkpoint of a diverged state: NaN on any step so far.
                    total = float(pos.totals.get("loss", 0.0))
                    check_finite_loss(total, epoch, None, ckpt, *saver.kept)
                    check_finite_params(stepper, epoch, ckpt, *saver.kept)
                    saver.save(state(epoch, pos))
                if stop:
                    barrier()  # every rank stops once the checkpoint is written
                    raise interrupted(saver, epoch, pos.batches, step_count)
            if metrics and pos.batches % check_every != 0:  # the last step, unless checked
                check_finite_loss(float(metrics["loss"]), epoch, pos.batches - 1, ckpt, *saver.kept)
            row: dict[str, float] = {"epoch": epoch + 1}
            row.update(pos.means())
            # A loss that was NaN/inf on a step between the periodic checks shows up here.
            check_finite_loss(row.get("train_loss", 0.0), epoch, None, ckpt, *saver.kept)
            if callable(end_epoch):
                end_epoch(epoch + 1, row)
            check_finite_params(stepper, epoch, ckpt, *saver.kept)
            if test is not None:
                batches = test.batches(None, dev, check, where)
                metrics = _mean_metrics(stepper.evaluate, batches)
                row.update({f"test_{k}": float(v) for k, v in metrics.items()})
            row["seconds"] = pos.elapsed()
            history.append(row)
            improved = stopper is not None and stopper.update(row)
            saver.save(state(epoch + 1), best=improved)
            if out_dir is not None:
                barrier()  # no rank runs ahead of (or resumes from) a half-written epoch
            call_hooks(hooks, "on_epoch", epoch + 1, row)
            if callback is not None:
                callback(epoch + 1, row)
            summary = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
            logger.info("epoch %d/%d: %s", epoch + 1, epochs, summary)
            if epoch + 1 < epochs and requests.agreed(ctx):  # Ctrl-C during the epoch's end
                raise interrupted(saver, epoch + 1, 0, step_count)
        if stopper is not None and stopper.should_stop:
            logger.info(stopper.message(None if best is None else str(best)))
    call_hooks(hooks, "on_end", history)
    return history


def _say_path(stepper: Stepper) -> None:
    """Which implementation of the objective trains (decided on the first batch), and why."""
    path = getattr(stepper, "path", None)
    if path is not None:
        logger.info("objective path: %s (%s)", path, getattr(stepper, "path_reason", ""))


def load_stepper_state(stepper: Stepper, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Loads the checkpoint of run directory ``out`` into ``stepper``; returns the state."""
    state = load_checkpoint(Path(out) / CHECKPOINT)
    stepper.load_state_dict(state["stepper"])
    return state
