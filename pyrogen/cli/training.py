"""``pyrogen train``: trains a registered model into a run directory, or resumes the run
that the directory holds (:mod:`pyrogen.cli.resume`), then writes its figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

import pyro
import torch
from pyro.infer import TraceEnum_ELBO

from pyrogen.cli.options import check_fast_path, check_options, resolve_defaults
from pyrogen.cli.registry import get_loss, get_model, import_plugin
from pyrogen.cli.resume import explicit_options, resume_settings
from pyrogen.cli.run_checks import check_dataset_fits, check_run_values
from pyrogen.cli.runs import (
    CONFIG,
    TrainConfig,
    build_stepper,
    check_config_matches,
    check_labels,
    is_rank0,
    marked_for_enumeration,
    training_data,
)
from pyrogen.cli.sampling import figures
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.infer.atomic_write import atomic_write
from pyrogen.infer.callbacks import TensorBoardLogger
from pyrogen.infer.distributed import env_world_size, shutdown
from pyrogen.infer.fit import epoch_generator
from pyrogen.infer.stepper import Stepper


def _check_enumeration(stepper: Stepper, batch: tuple[torch.Tensor, ...]) -> None:
    """Refuses an objective that would sample a site the model marks for enumeration: the
    guide does not sample it, so only TraceEnum_ELBO trains it as written."""
    if not isinstance(stepper, SVITrainer) or isinstance(stepper.loss, TraceEnum_ELBO):
        return
    marked = marked_for_enumeration(stepper.module, batch)
    if marked:
        raise ValueError(
            f"model site(s) {', '.join(repr(n) for n in marked)} are marked "
            f'infer={{"enumerate": "parallel"}} and the guide does not sample them: train with '
            f"--loss enum_elbo (TraceEnum_ELBO sums them out); "
            f"{type(stepper.loss).__name__} would draw them from the prior instead"
        )


def _absolute(target: str) -> str:
    """An ``--import`` target as stored: a ``.py`` file by its absolute path."""
    return str(Path(target).resolve()) if target.endswith(".py") else target


def cmd_train(
    cfg: TrainConfig, given: Collection[str] | None = None, allow_changes: bool = False
) -> Path:
    """Trains ``cfg.model`` into a run directory (resuming the run in ``cfg.out`` if any).

    Args:
        cfg: the configuration.
        given: the options the user set (the command line's explicit flags); only these are
            checked against what the model applies and against a resumed run's settings.
            ``None``: those differing from :class:`TrainConfig`'s defaults.
        allow_changes: resume a run with given settings that differ from its own, where a
            resumed run honours them (see :mod:`pyrogen.cli.resume`).
    """
    given = set(explicit_options(cfg) if given is None else given)
    # A resumed run continues with its own settings (pyrogen.cli.resume).
    done = resume_settings(Path(cfg.out), cfg, given, allow_changes) if cfg.out else None
    cfg.imports = [_absolute(target) for target in cfg.imports]
    for target in cfg.imports:
        import_plugin(target)
    # Unknown names, options the model does not apply, and a labelled model on a dataset
    # without labels fail before any data is read.
    spec = get_model(cfg.model)
    if spec.stepper is None:
        get_loss(cfg.loss or "", dataclasses.asdict(cfg))
    check_options(spec, given, cfg.loss)
    if done is None:  # config.json records the values the model is built with
        resolve_defaults(spec, cfg, given)
    check_run_values(cfg)  # out-of-range numbers, a device this machine lacks
    cfg.num_classes = check_labels(cfg)
    train = training_data(cfg, "train")
    test = training_data(cfg, "test")
    cfg.x_shape = list(train.x.shape[1:])
    if cfg.teacher is not None:  # eval and sample rebuild the teacher from any directory
        cfg.teacher = str(Path(cfg.teacher).resolve())
    # Bad model options (a teacher that is no 1-D density, an objective that cannot train
    # the model as written, ...) fail before --out is written. --seed seeds the initial
    # weights too: two runs with one seed, in one process or several, start alike.
    pyro.set_rng_seed(cfg.seed)
    stepper = build_stepper(cfg)
    check_fast_path(stepper, given)
    if done is None and cfg.init_output_bias:  # a resumed run has its weights
        cast(Any, stepper.module).init_output_bias(train.x)
    # The test set's one fixed binarization: the model's arguments, (x,) or (x, y).
    whole = test.epoch(epoch_generator(cfg.seed, -1))
    test_args: tuple[torch.Tensor, ...] = whole if isinstance(whole, tuple) else (whole,)
    _check_enumeration(stepper, tuple(t[:2] for t in test_args))
    check_dataset_fits(cfg, stepper.module, test_args)  # says which datasets fit instead
    if cfg.out is None and env_world_size() > 1:
        raise ValueError("distributed training needs an explicit --out shared by every rank")
    out = Path(cfg.out or f"runs/{cfg.model}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg.out = str(out)
    rank0 = is_rank0()
    say = print if rank0 and not cfg.quiet else _silent
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        check_config_matches(out, cfg)
        config = json.dumps(dataclasses.asdict(cfg), indent=2).encode()
        atomic_write(out / CONFIG, lambda f: f.write(config))  # never half a file
        if done is not None:
            say(f"resuming from epoch {done} (of {cfg.epochs}) in {out}")
        say(f"training {cfg.model} on {cfg.dataset} ({len(train)} examples) -> {out}")
    history = fit(
        stepper,
        train,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        test_data=test,
        device=cfg.device,
        out=out,
        seed=cfg.seed,
        progress=rank0 and not cfg.quiet,
        early_stopping=cfg.early_stopping,
        checkpoint_minutes=cfg.checkpoint_minutes,
        callbacks=[TensorBoardLogger(out / "tensorboard")] if cfg.tensorboard and rank0 else [],
    )
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        shutdown(stepper)
    if not rank0:
        return out
    dev = resolve_device(cfg.device)
    test_args = tuple(t.to(dev) for t in test_args)
    # Figures of a run trained with --ema-decay come from the averaged weights.
    averaged = isinstance(stepper, SVITrainer) and stepper.ema is not None
    weights = stepper.ema_weights() if isinstance(stepper, SVITrainer) and averaged else None
    with weights or contextlib.nullcontext():
        written = figures(stepper.module, test_args, history, out, cfg)
    for path in written:
        say(f"wrote {path}")
    if history:
        last = history[-1]
        say("final: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    return out


def _silent(*args: Any) -> None:
    """``print`` under ``--quiet``: says nothing."""
