"""The ``pyrogen`` command: ``train``, ``eval``, ``sample`` and ``list``.

A run directory holds ``config.json``, ``checkpoint.pt``, ``metrics.csv`` and PNG figures
(samples, reconstructions, loss curve); ``eval`` and ``sample`` rebuild the model from it.
A model registered with ``labels=True`` trains on the dataset's ``(x, y)`` and is sampled
class by class.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import sys
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, cast

import pyro
import torch
from pyro.infer import TraceEnum_ELBO
from torch import nn

from pyrogen import plots
from pyrogen.cli_eval import cmd_eval
from pyrogen.cli_interrupt import report_interrupt
from pyrogen.cli_options import check_fast_path, check_options, resolve_defaults
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.infer.atomic_write import atomic_write
from pyrogen.infer.callbacks import TensorBoardLogger
from pyrogen.infer.checkpoint import CheckpointError
from pyrogen.infer.distributed import PeerLostError, env_world_size, shutdown
from pyrogen.infer.fit import epoch_generator
from pyrogen.infer.schedules import SCHEDULES
from pyrogen.infer.trainer import Stepper
from pyrogen.registry import get_loss, get_model, import_plugin
from pyrogen.resume import resume_settings
from pyrogen.run_checks import check_dataset_fits, check_run_values
from pyrogen.runs import (
    CONFIG,
    TrainConfig,
    build_stepper,
    check_config_matches,
    check_labels,
    is_rank0,
    load_run,
    marked_for_enumeration,
    training_data,
)

__all__ = ["TrainConfig", "build_stepper", "cmd_eval", "load_run", "main", "parser"]


def _takes_labels(fn: Callable[..., Any]) -> bool:
    return "y" in inspect.signature(fn).parameters


def _draw(module: Any, n: int, num_classes: int | None, mean: bool) -> torch.Tensor:
    """``n`` draws of ``module.sample``; for a labelled model, ``n // num_classes`` (at
    least one) per class, class by class."""
    sample = module.sample
    kwargs: dict[str, Any] = {"mean": True} if mean else {}
    if num_classes is None:
        return sample(n, **kwargs)
    per_class = max(1, n // num_classes)
    first = next(iter(module.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    y = torch.arange(num_classes, device=device).repeat_interleave(per_class)
    return sample(y.shape[0], y=y, **kwargs)


def _figures(
    module: nn.Module, test: tuple[torch.Tensor, ...], history: list, out: Path, cfg: TrainConfig
) -> list[Path]:
    written = []
    x_test = test[0]
    labelled = cfg.num_classes is not None
    with torch.no_grad():
        sample = getattr(module, "sample", None)
        if callable(sample) and labelled and not _takes_labels(sample):
            print(f"no samples.png: {type(module).__name__}.sample() takes no labels y")
        elif callable(sample):
            try:
                images = _draw(module, 64, cfg.num_classes, mean=True)
            except TypeError:
                images = _draw(module, 64, cfg.num_classes, mean=False)
            if images.dim() in (2, 4):  # image grid, or line plots of 1-D signals
                nrow = max(1, 64 // cfg.num_classes) if cfg.num_classes else None
                title = "samples, one row per class" if labelled else "samples"
                path = out / "samples.png"
                if images.dim() == 4:
                    written.append(plots.save_image_grid(images, path, nrow=nrow, title=title))
                else:
                    written.append(plots.save_samples(images, path, title=title))
        reconstruct = getattr(module, "reconstruct", None)
        if callable(reconstruct) and (not labelled or _takes_labels(reconstruct)):
            xr = reconstruct(*(t[:16] for t in test))
            written.append(plots.save_reconstructions(x_test[:16], xr, out / "reconstructions.png"))
    if history:
        written.append(plots.save_curves(history, out / "loss.png"))
    return written


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


def _set_explicitly(cfg: TrainConfig) -> set[str]:
    """The options of ``cfg`` that differ from :class:`TrainConfig`'s defaults."""
    blank = TrainConfig(model=cfg.model)
    return {
        f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(blank, f.name)
    }


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
            resumed run honours them (see :mod:`pyrogen.resume`).
    """
    given = set(_set_explicitly(cfg) if given is None else given)
    # A resumed run continues with its own settings (pyrogen.resume).
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
        written = _figures(stepper.module, test_args, history, out, cfg)
    for path in written:
        say(f"wrote {path}")
    if history:
        last = history[-1]
        say("final: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    return out


def _silent(*args: Any) -> None:
    """``print`` under ``--quiet``: says nothing."""


def cmd_sample(run_dir: str, n: int, out: str | None, device: str, mean: bool) -> Path:
    cfg, stepper = load_run(run_dir, device)
    sample = getattr(stepper.module, "sample", None)
    name = type(stepper.module).__name__
    if not callable(sample):
        raise SystemExit(f"error: this model has no sample(); cannot draw from {run_dir}")
    if mean and "mean" not in inspect.signature(sample).parameters:
        raise SystemExit(f"error: {name} has no mean to plot; omit --mean")
    k = cfg.num_classes
    if k is not None and not _takes_labels(sample):
        raise SystemExit(
            f"error: model {cfg.model!r} is conditional on class labels, but {name}.sample() "
            f"takes no labels y; give it a y argument, sample(num_samples, y), to draw per class"
        )
    if k is not None and n < k:
        raise SystemExit(f"error: -n {n} is fewer than one sample for each of the {k} classes")
    with torch.no_grad():
        images = _draw(stepper.module, n, k, mean)
    path = Path(out or Path(run_dir) / "samples.png")
    if k is None:
        plots.save_samples(images, path, title=f"{n} samples")
    else:
        per_class = images.shape[0] // k
        title = f"{per_class} samples per class, one row per class 0..{k - 1}"
        if images.dim() == 4:
            plots.save_image_grid(images, path, nrow=per_class, title=title)
        else:
            plots.save_samples(images, path, title=title)
        print(f"{per_class} samples for each of the {k} classes")
    print(f"wrote {path}")
    return path


def cmd_list() -> None:
    from pyrogen.data import list_datasets
    from pyrogen.registry import describe_losses, describe_models

    print("models:")
    for name, text in describe_models().items():
        print(f"  {name:<20} {text}")
    print("datasets:")
    for name in list_datasets():
        print(f"  {name}")
    print("losses:")
    for name, text in describe_losses().items():
        print(f"  {name:<20} {text}")


def _training_loop_flags(t: argparse.ArgumentParser) -> None:
    """Options of the training loop; unset ones of a resumed run keep the run's values."""
    g = t.add_argument_group("training loop (a resumed run keeps its own values)")
    g.add_argument("--clip-grad-norm", type=float, help="clip the gradients' global L2 norm")
    g.add_argument("--accumulate", type=int, help="batches per update (gradient accumulation)")
    g.add_argument("--lr-schedule", choices=SCHEDULES, help="learning-rate schedule")
    g.add_argument("--ema-decay", type=float, help="evaluate and sample a moving average")
    g.add_argument(
        "--early-stopping",
        type=int,
        metavar="N",
        help="stop after N epochs without a better test loss; keeps OUT/best.pt",
    )
    g.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="write TensorBoard scalars to OUT/tensorboard",
    )
    g.add_argument("--quiet", action="store_true", default=None, help="print nothing but errors")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyrogen", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model; writes a run directory")
    # Options default to None, so that those given can be told apart (pyrogen.cli_options
    # refuses a given option that the model does not apply); TrainConfig fills the rest.
    t.add_argument("model", help="model name (see `pyrogen list`)")
    t.add_argument("--dataset", help="dataset name (default: digits)")
    t.add_argument("--epochs", type=int, help="total epochs to train to (default: 100)")
    t.add_argument("--batch-size", type=int, help="default: 100")
    t.add_argument("--lr", type=float, help="learning rate (default: 1e-3; the GAN: its paper's)")
    t.add_argument("--loss", help="objective name (see `pyrogen list`; default: elbo)")
    t.add_argument("--num-particles", type=int, help="particles of the objective (default: 1)")
    t.add_argument("--beta", type=float, help="KL weight of --loss beta_elbo (default: 4)")
    t.add_argument("--gamma", type=float, help="TC weight of factor_vae (default: 10)")
    t.add_argument("--teacher", help="run directory of the autoregressive teacher (distill)")
    # Which models apply which option, and their defaults: docs/cli_options.md.
    t.add_argument("--z-dim", type=int, help="latent size")
    t.add_argument("--hidden", type=int, nargs="+", help="hidden widths (or channels)")
    t.add_argument(
        "--likelihood",
        choices=["bernoulli", "continuous_bernoulli", "gaussian"],
        help="the decoder's likelihood",
    )
    t.add_argument("--binarize", choices=["dynamic", "threshold", "none"])
    t.add_argument("--seed", type=int, help="seeds the weights and the data order (default: 0)")
    t.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    t.add_argument("--out", help="run directory (resumed when it holds a checkpoint)")
    t.add_argument(
        "--checkpoint-minutes",
        type=float,
        metavar="M",
        help="also checkpoint within an epoch every M minutes (default: 10); a run killed or "
        "stopped by Ctrl-C resumes from its last checkpoint, at the step it holds",
    )
    t.add_argument("--data-root", help="dataset directory (default: $PYROGEN_DATA)")
    t.add_argument(
        "--no-fast",
        dest="fast",
        action="store_false",
        default=None,
        help="evaluate the objective through Pyro's traces instead of the fast path",
    )
    t.add_argument(
        "--analytic-kl",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="closed-form KL(q || p) (Pyro's TraceMeanField_ELBO: same expectation, lower "
        "variance); the default of the VAEs with --loss elbo",
    )
    t.add_argument(
        "--init-output-bias",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start the decoder's output bias at the training data's marginal (e.g. the "
        "log-odds of the mean image); the default of the VAEs",
    )
    t.add_argument("--particle-chunk", type=int, help="particles per pass (bounds memory)")
    t.add_argument(
        "--compile", action="store_true", default=None, help="torch.compile the training step"
    )
    t.add_argument(
        "--bf16",
        action="store_true",
        default=None,
        help="bfloat16 autocast of the objective (GPU, AMX)",
    )
    _training_loop_flags(t)
    t.add_argument(
        "--import",
        dest="imports",
        action="append",
        help="module or .py file that registers extra models (repeatable)",
    )
    t.add_argument(
        "--allow-changes",
        action="store_true",
        default=None,
        help="resume a run with given settings that differ from its own (epochs, batch size, "
        "...); without it such a resume is refused",
    )
    e = sub.add_parser("eval", help="test ELBO and importance-sampled NLL of a run")
    e.add_argument("run_dir")
    e.add_argument("--num-samples", type=int, default=5000)
    e.add_argument("--limit", type=int, help="evaluate a random subset of N test examples")
    e.add_argument("--device", default="auto")
    e.add_argument("--seed", type=int, default=0, help="seeds every draw of the evaluation")
    s = sub.add_parser("sample", help="draw samples from a run into a PNG grid")
    s.add_argument("run_dir")
    s.add_argument(
        "-n",
        type=int,
        default=64,
        help="number of samples (split evenly over the classes of a model that takes labels)",
    )
    s.add_argument("--out")
    s.add_argument("--mean", action="store_true", help="plot E[x|z] instead of draws")
    s.add_argument("--device", default="auto")
    li = sub.add_parser("list", help="registered models, datasets and losses")
    li.add_argument("--import", dest="imports", action="append", default=[])
    return p


def train_config(args: argparse.Namespace) -> tuple[TrainConfig, set[str], bool]:
    """The :class:`TrainConfig` of parsed ``train`` arguments, the options given explicitly,
    and ``--allow-changes``."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    defaults = vars(parser().parse_args(["train", args.model]))
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    given = {k for k, v in values.items() if v != defaults[k]}
    return TrainConfig(**values), given, bool(args.allow_changes)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    pyro.settings.set(module_local_params=True)
    try:
        if args.command == "train":
            cmd_train(*train_config(args))
        elif args.command == "eval":
            cmd_eval(args.run_dir, args.num_samples, args.device, args.limit, args.seed)
        elif args.command == "sample":
            cmd_sample(args.run_dir, args.n, args.out, args.device, args.mean)
        else:
            for target in args.imports:
                import_plugin(target)
            cmd_list()
    except (ValueError, OSError, CheckpointError, PeerLostError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C: where training stopped, and how to resume
        return report_interrupt(e, argv, getattr(args, "out", None)) if is_rank0() else 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
