"""The ``pyrogen`` command: ``train``, ``eval``, ``sample`` and ``list``.

A run directory holds ``config.json``, ``checkpoint.pt``, ``metrics.csv`` and PNG figures
(samples, reconstructions, loss curve); ``eval`` and ``sample`` rebuild the model from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pyro
import torch
from torch import nn

from pyrogen import plots
from pyrogen.cli_eval import cmd_eval
from pyrogen.infer import fit, resolve_device
from pyrogen.infer.checkpoint import CheckpointError
from pyrogen.infer.distributed import env_world_size, shutdown
from pyrogen.infer.fit import epoch_generator
from pyrogen.registry import get_loss, get_model, import_plugin
from pyrogen.runs import (
    CONFIG,
    TrainConfig,
    build_stepper,
    check_config_matches,
    is_rank0,
    load_run,
    load_split,
)

__all__ = ["TrainConfig", "build_stepper", "cmd_eval", "load_run", "main", "parser"]


def _figures(module: nn.Module, x_test: torch.Tensor, history: list, out: Path) -> list[Path]:
    written = []
    with torch.no_grad():
        sample = getattr(module, "sample", None)
        if callable(sample):
            try:
                images = sample(64, mean=True)
            except TypeError:
                images = sample(64)
            if images.dim() in (2, 4):  # image grid, or line plots of 1-D signals
                written.append(plots.save_samples(images, out / "samples.png", title="samples"))
        reconstruct = getattr(module, "reconstruct", None)
        if callable(reconstruct):
            xr = reconstruct(x_test[:16])
            written.append(plots.save_reconstructions(x_test[:16], xr, out / "reconstructions.png"))
    if history:
        written.append(plots.save_curves(history, out / "loss.png"))
    return written


def cmd_train(cfg: TrainConfig) -> Path:
    for target in cfg.imports:
        import_plugin(target)
    # Unknown names fail before any data is read. Models with their own stepper (GANs,
    # FactorVAE) interpret --loss themselves.
    if get_model(cfg.model).stepper is None:
        get_loss(cfg.loss, dataclasses.asdict(cfg))
    train = load_split(cfg, "train")
    test = load_split(cfg, "test")
    cfg.x_shape = list(train.x.shape[1:])
    if cfg.teacher is not None:  # eval and sample rebuild the teacher from any directory
        cfg.teacher = str(Path(cfg.teacher).resolve())
    # Bad model options (a teacher that is no 1-D density, ...) fail before --out is written.
    stepper = build_stepper(cfg)
    if cfg.out is None and env_world_size() > 1:
        raise ValueError("distributed training needs an explicit --out shared by every rank")
    out = Path(cfg.out or f"runs/{cfg.model}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg.out = str(out)
    rank0 = is_rank0()
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        check_config_matches(out, cfg)
        (out / CONFIG).write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
        print(f"training {cfg.model} on {cfg.dataset} ({len(train)} examples) -> {out}")
    history = fit(
        stepper,
        train,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        test_data=test,
        device=cfg.device,
        out=out,
        seed=cfg.seed,
        progress=rank0,
    )
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        shutdown(stepper)
    if not rank0:
        return out
    x_test = test.epoch(epoch_generator(cfg.seed, -1)).to(resolve_device(cfg.device))
    for path in _figures(stepper.module, x_test, history, out):
        print(f"wrote {path}")
    if history:
        last = history[-1]
        print("final: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    return out


def cmd_sample(run_dir: str, n: int, out: str | None, device: str, mean: bool) -> Path:
    _, stepper = load_run(run_dir, device)
    sample = getattr(stepper.module, "sample", None)
    if not callable(sample):
        raise SystemExit(f"error: this model has no sample(); cannot draw from {run_dir}")
    if mean and "mean" not in inspect.signature(sample).parameters:
        raise SystemExit(f"error: {type(stepper.module).__name__} has no mean to plot; omit --mean")
    with torch.no_grad():
        images = sample(n, mean=True) if mean else sample(n)
    path = Path(out or Path(run_dir) / "samples.png")
    plots.save_samples(images, path, title=f"{n} samples")
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyrogen", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model; writes a run directory")
    t.add_argument("model", help="model name (see `pyrogen list`)")
    t.add_argument("--dataset", default="digits")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--batch-size", type=int, default=100)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--loss", default="elbo", help="objective name (see `pyrogen list`)")
    t.add_argument("--num-particles", type=int, default=1)
    t.add_argument("--beta", type=float, default=4.0, help="KL weight of --loss beta_elbo")
    t.add_argument("--gamma", type=float, default=10.0, help="TC weight of factor_vae")
    t.add_argument("--teacher", help="run directory of the autoregressive teacher (distill)")
    t.add_argument("--z-dim", type=int)
    t.add_argument("--hidden", type=int, nargs="+")
    t.add_argument("--likelihood", choices=["bernoulli", "continuous_bernoulli", "gaussian"])
    t.add_argument("--binarize", choices=["dynamic", "threshold", "none"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--out", help="run directory (resumed when it holds a checkpoint)")
    t.add_argument("--data-root", help="dataset directory (default: $PYROGEN_DATA)")
    t.add_argument(
        "--no-fast",
        dest="fast",
        action="store_false",
        help="evaluate the objective through Pyro's traces instead of the fast path",
    )
    t.add_argument(
        "--analytic-kl",
        action="store_true",
        help="closed-form KL(q || p) where guide and prior allow it (same expectation)",
    )
    t.add_argument("--particle-chunk", type=int, help="particles per pass (bounds memory)")
    t.add_argument("--compile", action="store_true", help="torch.compile the training step")
    t.add_argument(
        "--bf16", action="store_true", help="bfloat16 autocast of the objective (GPU, AMX)"
    )
    t.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        help="module or .py file that registers extra models (repeatable)",
    )
    e = sub.add_parser("eval", help="test ELBO and importance-sampled NLL of a run")
    e.add_argument("run_dir")
    e.add_argument("--num-samples", type=int, default=5000)
    e.add_argument("--limit", type=int, help="evaluate a random subset of N test examples")
    e.add_argument("--device", default="auto")
    s = sub.add_parser("sample", help="draw samples from a run into a PNG grid")
    s.add_argument("run_dir")
    s.add_argument("-n", type=int, default=64)
    s.add_argument("--out")
    s.add_argument("--mean", action="store_true", help="plot E[x|z] instead of draws")
    s.add_argument("--device", default="auto")
    li = sub.add_parser("list", help="registered models, datasets and losses")
    li.add_argument("--import", dest="imports", action="append", default=[])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    pyro.settings.set(module_local_params=True)
    try:
        if args.command == "train":
            fields = {f.name for f in dataclasses.fields(TrainConfig)}
            cmd_train(TrainConfig(**{k: v for k, v in vars(args).items() if k in fields}))
        elif args.command == "eval":
            cmd_eval(args.run_dir, args.num_samples, args.device, args.limit)
        elif args.command == "sample":
            cmd_sample(args.run_dir, args.n, args.out, args.device, args.mean)
        else:
            for target in args.imports:
                import_plugin(target)
            cmd_list()
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
