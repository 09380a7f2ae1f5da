"""Resuming a run directory: the settings it continues with, and the changes it refuses.

``pyrogen train MODEL --out DIR`` on a directory that holds a run resumes it. Every setting
not given on the command line is the run's own (from ``config.json``). A setting given with
another value than the run's is refused, naming each one, unless ``--allow-changes`` is
given and the setting is one a resumed run honours (:data:`CHANGEABLE`); the others
(:data:`FIXED`: the model, its data, its objective, and the optimizer state that the
checkpoint carries, learning rate included) cannot change without starting a new run.
Where the run is, which device it uses, how much it prints and how often it checkpoints
(:data:`FREE`) never count as changes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from pathlib import Path

from pyrogen.cli.runs import CONFIG, TrainConfig
from pyrogen.infer.checkpoint import load_checkpoint
from pyrogen.infer.fit import CHECKPOINT

# Per invocation, not part of the run.
FREE: tuple[str, ...] = ("out", "device", "quiet", "data_root", "checkpoint_minutes")
# Honoured by a resumed run when --allow-changes is given: read afresh at every step.
CHANGEABLE: tuple[str, ...] = (
    "epochs",
    "batch_size",
    "early_stopping",
    "tensorboard",
    "clip_grad_norm",
    "num_particles",
    "beta",
    "gamma",
    "fast",
    "analytic_kl",
    "particle_chunk",
    "compile",
    "bf16",
)
# Learning-rate schedules laid over the run's epochs (pyrogen.infer.schedules.make_schedule).
EPOCH_SCHEDULES: tuple[str, ...] = ("cosine", "step")
# Derived from the data, not given.
DERIVED: tuple[str, ...] = ("x_shape", "num_classes")
FIXED: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(TrainConfig)
    if f.name not in (*FREE, *CHANGEABLE, *DERIVED, "imports")
)


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run to resume (its config and a checkpoint)."""
    return (out / CONFIG).is_file() and (out / CHECKPOINT).is_file()


def explicit_options(cfg: TrainConfig) -> set[str]:
    """The options of ``cfg`` that differ from :class:`~pyrogen.cli.runs.TrainConfig`'s
    defaults: those a call from Python counts as given."""
    blank = TrainConfig(model=cfg.model)
    return {
        f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(blank, f.name)
    }


def _spell(option: str) -> str:
    return "--" + option.replace("_", "-")


def resume_settings(
    out: Path, cfg: TrainConfig, given: Collection[str], allow_changes: bool = False
) -> int | None:
    """Completes ``cfg`` for resuming the run in ``out``; returns the checkpoint's epoch
    (``None`` when ``out`` holds no run).

    Args:
        out: the run directory.
        cfg: the configuration of this invocation; its options not in ``given`` are set to
            the run's.
        given: the options set on the command line.
        allow_changes: resume with the given values of :data:`CHANGEABLE` options that
            differ from the run's.

    Raises:
        ValueError: a given option differs from the run's and is :data:`FIXED`, or is
            :data:`CHANGEABLE` without ``allow_changes``; or ``epochs`` is below the epochs
            the run has done.
    """
    if not holds_run(out):
        return None
    # The checkpoint is read first: one that cannot be loaded safely is the first thing said.
    done = int(load_checkpoint(out / CHECKPOINT)["epoch"])
    old = json.loads((out / CONFIG).read_text())
    changed: dict[str, tuple[object, object]] = {}
    for f in dataclasses.fields(TrainConfig):
        key = f.name
        if key in (*FREE, *DERIVED) or key not in old:
            continue
        if key not in given:
            setattr(cfg, key, old[key])
        elif key == "imports":
            continue  # the same modules may be named by another path
        elif getattr(cfg, key) != old[key]:
            changed[key] = (old[key], getattr(cfg, key))
    listed = "; ".join(f"{_spell(k)}: {a!r} in the run, {b!r} now" for k, (a, b) in changed.items())
    fixed = [k for k in changed if k in FIXED]
    if fixed:
        raise ValueError(
            f"{out} holds a run whose settings differ from those given ({listed}); "
            f"{', '.join(_spell(k) for k in fixed)} cannot change on a resumed run (the model, "
            f"its data and objective, and the optimizer state in its checkpoint are fixed); "
            f"omit them to resume with the run's values, or pass another --out to start anew"
        )
    if "epochs" in changed and cfg.lr_schedule in EPOCH_SCHEDULES:
        raise ValueError(
            f"{out} holds a run whose --lr-schedule {cfg.lr_schedule} spans its "
            f"{changed['epochs'][0]} epochs; the schedule's state in the checkpoint cannot "
            f"stretch to --epochs {cfg.epochs}: omit --epochs, or pass another --out"
        )
    if changed and not allow_changes:
        raise ValueError(
            f"{out} holds a run whose settings differ from those given ({listed}); pass "
            f"--allow-changes to resume it with the new values, or omit them to resume with "
            f"the run's"
        )
    if cfg.epochs < done:
        raise ValueError(
            f"{out} holds a run that has trained {done} epochs; --epochs {cfg.epochs} is fewer "
            f"(--epochs is the total to train to: give at least {done})"
        )
    return done
