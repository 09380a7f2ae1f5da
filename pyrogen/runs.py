"""A run directory: the configuration of ``pyrogen train`` and the stepper rebuilt from it.

A run directory holds ``config.json`` (a :class:`TrainConfig`), ``checkpoint.pt``,
``metrics.csv`` and figures; :func:`load_run` rebuilds the trained stepper from it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrogen.infer import SVITrainer, resolve_device
from pyrogen.infer.checkpoint import CheckpointError, load_checkpoint
from pyrogen.infer.fit import CHECKPOINT
from pyrogen.infer.trainer import Stepper
from pyrogen.registry import get_loss, get_model, import_plugin

CONFIG = "config.json"


@dataclass
class TrainConfig:
    """Everything needed to rebuild a run: written to ``config.json``."""

    model: str
    dataset: str = "digits"
    epochs: int = 100
    batch_size: int = 100
    lr: float = 1e-3
    loss: str = "elbo"
    num_particles: int = 1
    z_dim: int | None = None
    hidden: list[int] | None = None
    likelihood: str | None = None
    binarize: str | None = None
    seed: int = 0
    device: str = "auto"
    out: str | None = None
    data_root: str | None = None
    beta: float = 4.0
    gamma: float = 10.0
    teacher: str | None = None
    fast: bool = True
    analytic_kl: bool = False
    particle_chunk: int | None = None
    compile: bool = False
    bf16: bool = False
    imports: list[str] = field(default_factory=list)
    x_shape: list[int] = field(default_factory=list)

    def model_options(self) -> dict[str, Any]:
        opts = {
            "z_dim": self.z_dim,
            "hidden": self.hidden,
            "likelihood": self.likelihood,
            "teacher": self.teacher,
        }
        return {k: v for k, v in opts.items() if v is not None}


def _binarize_for(cfg: TrainConfig) -> str | None:
    if cfg.binarize is not None:
        return None if cfg.binarize == "none" else cfg.binarize
    if cfg.likelihood not in (None, "bernoulli"):
        return None
    return get_model(cfg.model).binarize


def load_split(cfg: TrainConfig, split: str) -> Any:
    from pyrogen.data import load

    return load(cfg.dataset, split=split, root=cfg.data_root, binarize=_binarize_for(cfg))


def build_stepper(cfg: TrainConfig) -> Stepper:
    """The model of ``cfg`` and the stepper that trains it."""
    spec = get_model(cfg.model)
    if spec.stepper is not None:
        module = spec.build(tuple(cfg.x_shape), **cfg.model_options(), loss=cfg.loss)
        return spec.stepper(module, dataclasses.asdict(cfg))
    module = spec.build(tuple(cfg.x_shape), **cfg.model_options())
    loss = get_loss(cfg.loss, dataclasses.asdict(cfg))
    return SVITrainer(
        module,
        loss,
        lr=cfg.lr,
        fast=cfg.fast,
        analytic_kl=cfg.analytic_kl,
        particle_chunk=cfg.particle_chunk,
        compile=cfg.compile,
        bf16=cfg.bf16,
    )


def is_rank0() -> bool:
    """Under torchrun only rank 0 writes files and prints."""
    return int(os.environ.get("RANK", "0")) == 0


def check_config_matches(out: Path, cfg: TrainConfig) -> None:
    """Resuming is only safe with the same model and data."""
    path = out / CONFIG
    if not (path.exists() and (out / CHECKPOINT).exists()):
        return
    old = json.loads(path.read_text())
    keys = ("model", "dataset", "z_dim", "hidden", "likelihood", "loss", "x_shape")
    diff = {k: (old.get(k), getattr(cfg, k)) for k in keys if old.get(k) != getattr(cfg, k)}
    if diff:
        raise SystemExit(
            f"error: {out} holds a run with a different configuration "
            f"({', '.join(f'{k}: {a!r} there, {b!r} now' for k, (a, b) in diff.items())}); "
            f"pass another --out to start a new run"
        )


def load_run(run_dir: str | os.PathLike[str], device: str = "auto") -> tuple[TrainConfig, Stepper]:
    """Rebuilds the config and the trained stepper of a run directory."""
    run = Path(run_dir)
    if not (run / CONFIG).is_file():
        raise CheckpointError(f"{run} is not a pyrogen run directory: no {CONFIG} in it")
    raw = json.loads((run / CONFIG).read_text())
    cfg = TrainConfig(**raw)
    for target in cfg.imports:
        import_plugin(target)
    stepper = build_stepper(cfg)
    dev = resolve_device(device)
    stepper.module.to(dev)
    state = load_checkpoint(run / CHECKPOINT, map_location=dev)
    try:
        stepper.load_state_dict(state["stepper"])
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(
            f"checkpoint {run / CHECKPOINT} does not match the model in {CONFIG}: {e}"
        ) from None
    return cfg, stepper
