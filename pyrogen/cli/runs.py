"""A run directory: the configuration of ``pyrogen train`` and the stepper rebuilt from it.

A run directory holds ``config.json`` (a :class:`TrainConfig`), ``checkpoint.pt``,
``metrics.csv`` and figures; :func:`load_run` rebuilds the trained stepper from it.

A model registered with ``labels=True`` is trained, evaluated and sampled with the dataset's
class labels as its second argument, ``model(x, y)``: :func:`training_data` gives ``fit``
a :class:`LabelledEpochs`, whose every epoch is the pair (that epoch's binarization of ``x``,
``y``), and :func:`model_args` the test batch ``(x, y)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import prune_subsample_sites
from torch import nn

from pyrogen.cli.registry import get_loss, get_model, import_plugin
from pyrogen.data.labelled_tensors import LabelledTensors
from pyrogen.infer import SVITrainer, resolve_device
from pyrogen.infer.checkpoint import CheckpointError, load_checkpoint
from pyrogen.infer.fit import CHECKPOINT, epoch_generator
from pyrogen.infer.schedules import make_schedule
from pyrogen.infer.stepper import Stepper

CONFIG = "config.json"
# TrainConfig fields that SVITrainer takes (refused for models with their own stepper).
UPDATE_OPTIONS = ("clip_grad_norm", "accumulate", "lr_schedule", "ema_decay")


@dataclass
class TrainConfig:
    """Everything needed to rebuild a run: written to ``config.json``.

    ``pyrogen train`` records the values the model is built with (``z_dim``, ``hidden``,
    ``likelihood`` from the model's build defaults where not given), so a run is rebuilt from
    its directory alone, in Python too: ``cfg, stepper = load_run(run_dir)``, the trained
    model being ``stepper.module``. Options a model does not apply keep their defaults here
    (see ``docs/cli_options.md``). ``lr`` ``None``: the GAN's per-loss paper optimizer;
    ``loss`` ``None``: a model with one objective of its own (FactorVAE, distillation).
    """

    model: str
    dataset: str = "digits"
    epochs: int = 100
    batch_size: int = 100
    lr: float | None = 1e-3
    loss: str | None = "elbo"
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
    init_output_bias: bool = False
    particle_chunk: int | None = None
    compile: bool = False
    bf16: bool = False
    # The training loop (None: off; a resumed run keeps them, see pyrogen.cli.resume).
    clip_grad_norm: float | None = None
    accumulate: int | None = None
    lr_schedule: str | None = None
    ema_decay: float | None = None
    early_stopping: int | None = None
    tensorboard: bool | None = None
    quiet: bool = False
    # Minutes between checkpoints within an epoch (None: at epoch ends only).
    checkpoint_minutes: float | None = 10.0
    imports: list[str] = field(default_factory=list)
    x_shape: list[int] = field(default_factory=list)
    # Set for models registered with labels=True: they are built with num_classes= and
    # called as model(x, y).
    num_classes: int | None = None

    def model_options(self) -> dict[str, Any]:
        opts = {
            "z_dim": self.z_dim,
            "hidden": self.hidden,
            "likelihood": self.likelihood,
            "teacher": self.teacher,
            "num_classes": self.num_classes,
        }
        return {k: v for k, v in opts.items() if v is not None}


@dataclass
class LabelledEpochs:
    """A labelled dataset as ``fit`` trains a ``model(x, y)`` on it: every epoch is the pair
    (``data.epoch(generator)``, ``data.y``), so a dynamically binarized ``x`` is drawn afresh
    each epoch while its rows keep their labels.

    Attributes:
        data: a :mod:`pyrogen.data` dataset with labels ``y`` int64 (N,).
    """

    data: LabelledTensors

    def __post_init__(self) -> None:
        if self.data.y is None:
            raise ValueError(f"dataset {self.data.name!r} has no labels")

    @property
    def x(self) -> torch.Tensor:
        return self.data.x

    def __len__(self) -> int:
        return len(self.data)

    def epoch(self, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        assert self.data.y is not None
        return (self.data.epoch(generator), self.data.y)  # type: ignore[attr-defined]


def check_labels(cfg: TrainConfig) -> int | None:
    """The number of classes a ``labels=True`` model is built with (``None`` for other
    models); fails, before any data is read, when the dataset has no labels."""
    from pyrogen.data.registry import get_dataset_info

    info = get_dataset_info(cfg.dataset)
    if not get_model(cfg.model).labels:
        return None
    if info.num_classes is None:
        raise ValueError(
            f"model {cfg.model!r} is conditional on class labels (registered with "
            f"labels=True: model(x, y)), but dataset {cfg.dataset!r} has no labels; "
            f"choose a labelled dataset (e.g. digits, mnist, fashion_mnist)"
        )
    return info.num_classes


def _binarize_for(cfg: TrainConfig) -> str | None:
    if cfg.binarize is not None:
        return None if cfg.binarize == "none" else cfg.binarize
    if cfg.likelihood not in (None, "bernoulli"):
        return None
    return get_model(cfg.model).binarize


def load_split(cfg: TrainConfig, split: str) -> Any:
    from pyrogen.data import load

    return load(cfg.dataset, split=split, root=cfg.data_root, binarize=_binarize_for(cfg))


def training_data(cfg: TrainConfig, split: str) -> Any:
    """What ``fit`` trains on: the dataset, or its :class:`LabelledEpochs` for a model
    registered with ``labels=True``."""
    data = load_split(cfg, split)
    return LabelledEpochs(data) if get_model(cfg.model).labels else data


def model_args(
    cfg: TrainConfig, split: str, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, ...]:
    """The model's arguments on a whole split, binarized once with the run's fixed test
    draw: ``(x,)``, or ``(x, y)`` for a model registered with ``labels=True``."""
    data = training_data(cfg, split)
    whole = data.epoch(epoch_generator(cfg.seed, -1))
    args = whole if isinstance(whole, tuple) else (whole,)
    return tuple(t.to(device) for t in args)


def _trace(fn: Any, *args: Any, replay: Any = None) -> Any:
    """The trace of ``fn(*args)`` (optionally replaying ``replay``), the random state unchanged."""
    if replay is not None:
        fn = poutine.replay(fn, trace=replay)
    with torch.random.fork_rng(devices=[]), poutine.block(), pyro.validation_enabled(False):
        return poutine.trace(fn).get_trace(*args)


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[Any]:
    """``module`` in eval mode meanwhile (no running statistics move), as it was after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _sample_sites(trace: Any) -> dict[str, Any]:
    return {n: s for n, s in prune_subsample_sites(trace).nodes.items() if s["type"] == "sample"}


def _marked(site: Any) -> bool:
    return not site["is_observed"] and (site["infer"] or {}).get("enumerate") == "parallel"


@torch.no_grad()
def model_only_latents(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, bool]:
    """The latent sites of ``module.model`` that ``module.guide`` does not sample, each
    with whether it is marked ``infer={"enumerate": "parallel"}``, found by running the
    guide and the model once on ``batch`` with the random state unchanged. An AutoGuide
    builds itself on its first call, from that call's batch: use this after training."""
    with _evaluating(module) as m:
        guide_tr = _trace(m.guide, *batch)
        guided = _sample_sites(guide_tr)
        sites = _sample_sites(_trace(m.model, *batch, replay=guide_tr))
    return {
        name: _marked(site)
        for name, site in sites.items()
        if not site["is_observed"] and name not in guided
    }


@torch.no_grad()
def marked_for_enumeration(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> list[str]:
    """The latent sites of ``module.model`` marked ``infer={"enumerate": "parallel"}`` that
    the guide does not sample. The model runs first, alone (from its prior); the guide only
    when some site is marked, so an unmarked model's lazily built guide stays unbuilt."""
    with _evaluating(module) as m:
        model_sites = _sample_sites(_trace(m.model, *batch))
        marked = [name for name, site in model_sites.items() if _marked(site)]
        guided = _sample_sites(_trace(m.guide, *batch)) if marked else {}
    return [name for name in marked if name not in guided]


def build_stepper(cfg: TrainConfig) -> Stepper:
    """The model of ``cfg`` and the stepper that trains it."""
    spec = get_model(cfg.model)
    if spec.labels and cfg.num_classes is None:
        raise ValueError(f"model {cfg.model!r} takes labels: its config needs num_classes")
    if spec.stepper is not None:
        given = [f"--{k.replace('_', '-')}" for k in UPDATE_OPTIONS if getattr(cfg, k) is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} apply to models trained by SVITrainer; model "
                f"{cfg.model!r} trains with its own stepper, which does not take them"
            )
        module = spec.build(tuple(cfg.x_shape), **cfg.model_options(), loss=cfg.loss)
        return spec.stepper(module, dataclasses.asdict(cfg))
    module = spec.build(tuple(cfg.x_shape), **cfg.model_options())
    if cfg.loss is None or cfg.lr is None:
        raise ValueError(f"model {cfg.model!r} trains by SVI: its config needs a loss and an lr")
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
        clip_grad_norm=cfg.clip_grad_norm,
        accumulate=cfg.accumulate or 1,
        scheduler=make_schedule(cfg.lr_schedule or "none", cfg.epochs),
        ema_decay=cfg.ema_decay,
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
        if isinstance(stepper, SVITrainer) and _created_on_first_call(stepper, state["stepper"]):
            _first_call(stepper, cfg, dev)
        if isinstance(stepper, SVITrainer) and stepper.ema is not None:
            _use_average(stepper, cfg, dev)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {run / CHECKPOINT} does not match the model in {CONFIG}: {e}"
        ) from None
    return cfg, stepper


def _use_average(stepper: SVITrainer, cfg: TrainConfig, device: torch.device) -> None:
    """A run trained with ``ema_decay`` is evaluated and sampled with its averaged weights."""
    if not stepper.params:
        _first_call(stepper, cfg, device)
    assert stepper.ema is not None
    with torch.no_grad():
        for p, avg in zip(stepper.params, stepper.ema.shadow):
            p.copy_(avg)


def _created_on_first_call(stepper: SVITrainer, state: dict[str, Any]) -> bool:
    """Whether the checkpoint holds parameters that the model and guide create on their
    first call (an AutoGuide's, ``pyro.param`` sites): the trainer applies those then."""
    missing = set(state.get("module", {})) - set(stepper.module.state_dict())
    return bool(missing or state.get("params"))


def _first_call(stepper: SVITrainer, cfg: TrainConfig, device: torch.device) -> None:
    """Runs the model and guide once on two test examples, so that parameters created on
    the first call exist and take the checkpoint's values; the random state is unchanged."""
    args = tuple(t[:2] for t in model_args(cfg, "test", device))
    rng = pyro.util.get_rng_state()
    try:
        with pyro.validation_enabled(False):
            stepper.evaluate(*args)
    finally:
        pyro.util.set_rng_state(rng)
