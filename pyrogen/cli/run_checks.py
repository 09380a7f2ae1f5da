"""Checks of a ``pyrogen train`` run made before its run directory is written.

A bad number (``--epochs 0``, ``--lr -1``), a device this machine lacks (``--device cuda``
without CUDA, ``--device gpu``) or a dataset the model cannot score (``pixelcnnpp`` on the
grey levels of ``digits``) fails with one line naming what was expected, and leaves no run
directory behind: :func:`check_run_values` runs before any data is read, and
:func:`check_dataset_fits` after the model is built, both before ``--out`` is created.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from pyrogen.cli.runs import TrainConfig, build_stepper, check_labels, model_args
from pyrogen.data import list_datasets, load
from pyrogen.infer import resolve_device
from pyrogen.infer.checkpoint import CheckpointError
from pyrogen.validation import (
    check_finite,
    check_model_input,
    check_positive_int,
    check_positive_number,
    check_sizes,
)

# Config fields that must be integers >= 1 when given (None: not given, or off).
_COUNTS = ("epochs", "batch_size", "num_particles", "z_dim", "particle_chunk", "accumulate")
# Config fields that must be finite numbers > 0 when given, or >= 0.
_POSITIVE = ("lr", "clip_grad_norm", "checkpoint_minutes")
_NON_NEGATIVE = ("beta", "gamma")


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def check_run_values(cfg: TrainConfig) -> None:
    """Refuses out-of-range numbers and a device this machine lacks, naming the option.

    Raises:
        ValueError: e.g. ``--epochs must be a positive int, got 0``, or ``device 'gpu'``
            unknown with the valid choices listed.
    """
    for name in _COUNTS:
        if getattr(cfg, name) is not None:
            check_positive_int(getattr(cfg, name), _flag(name))
    for name in _POSITIVE:
        if getattr(cfg, name) is not None:
            check_positive_number(getattr(cfg, name), _flag(name))
    for name in _NON_NEGATIVE:
        if getattr(cfg, name) is not None:
            check_positive_number(getattr(cfg, name), _flag(name), allow_zero=True)
    if cfg.hidden is not None:
        check_sizes(cfg.hidden, "--hidden")
    if cfg.early_stopping is not None:
        check_positive_int(cfg.early_stopping, "--early-stopping (epochs without improvement)")
    if cfg.ema_decay is not None and not 0.0 <= cfg.ema_decay < 1.0:
        raise ValueError(f"--ema-decay must lie in [0, 1), got {cfg.ema_decay}")
    resolve_device(cfg.device)


def _data_ok(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
    """The checks ``fit`` makes before training: the model's ``check_x`` on the first
    argument, finiteness of the others."""
    check_model_input(module, args[0])
    for i, t in enumerate(args[1:], 1):
        if t.is_floating_point():
            check_finite(t, f"argument {i}")


def datasets_that_fit(cfg: TrainConfig) -> list[str]:
    """The datasets on this machine (none is downloaded) whose test split the model of
    ``cfg``, built for that dataset's shape, accepts as it would be trained on it."""
    fits = []
    for name in list_datasets():
        other = dataclasses.replace(cfg, dataset=name, out=None)
        try:
            load(name, "test", root=cfg.data_root, download=False)  # on disk, or skipped
            other.num_classes = check_labels(other)
            args = model_args(other, "test")
            other.x_shape = list(args[0].shape[1:])
            _data_ok(build_stepper(other).module, tuple(t[:256] for t in args))
        except (ValueError, FileNotFoundError, CheckpointError):
            continue  # a shape the model cannot be built for, data it refuses, no files
        fits.append(name)
    return fits


def check_dataset_fits(cfg: TrainConfig, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
    """Refuses a dataset whose data the model rejects, before a run directory is written.

    Args:
        cfg: the run's configuration.
        module: the model built for the dataset.
        args: the model's arguments on the whole test split, ``(x,)`` or ``(x, y)``.

    Raises:
        ValueError: the model's check fails; the message adds the datasets that fit.
    """
    try:
        _data_ok(module, args)
    except ValueError as e:
        fits = datasets_that_fit(cfg)
        advice = f"datasets that fit it: {', '.join(fits)}" if fits else "no dataset here fits it"
        raise ValueError(
            f"model {cfg.model!r} cannot train on dataset {cfg.dataset!r}: {e}; {advice}"
        ) from None
