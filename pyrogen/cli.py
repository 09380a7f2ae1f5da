"""The ``pyrogen`` command: ``train``, ``eval``, ``sample`` and ``list``.

A run directory holds ``config.json``, ``checkpoint.pt``, ``metrics.csv`` and PNG figures
(samples, reconstructions, loss curve); ``eval`` and ``sample`` rebuild the model from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyro
import torch
from torch import nn

from pyrogen import plots
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.infer.adversarial import GANPair
from pyrogen.infer.checkpoint import CheckpointError, load_checkpoint
from pyrogen.infer.distillation import DistillationPair
from pyrogen.infer.distillation_cli import distillation_report
from pyrogen.infer.distributed import env_world_size, init_from_env, sharded_log_likelihood
from pyrogen.infer.fit import CHECKPOINT, epoch_generator
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


def _load_split(cfg: TrainConfig, split: str) -> Any:
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


def _is_rank0() -> bool:
    """Under torchrun only rank 0 writes files and prints."""
    return int(os.environ.get("RANK", "0")) == 0


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
    train = _load_split(cfg, "train")
    test = _load_split(cfg, "test")
    cfg.x_shape = list(train.x.shape[1:])
    if cfg.teacher is not None:  # eval and sample rebuild the teacher from any directory
        cfg.teacher = str(Path(cfg.teacher).resolve())
    # Bad model options (a teacher that is no 1-D density, ...) fail before --out is written.
    stepper = build_stepper(cfg)
    if cfg.out is None and env_world_size() > 1:
        raise ValueError("distributed training needs an explicit --out shared by every rank")
    out = Path(cfg.out or f"runs/{cfg.model}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg.out = str(out)
    rank0 = _is_rank0()
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        _check_config_matches(out, cfg)
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
        torch.distributed.destroy_process_group()
    if not rank0:
        return out
    x_test = test.epoch(epoch_generator(cfg.seed, -1)).to(resolve_device(cfg.device))
    for path in _figures(stepper.module, x_test, history, out):
        print(f"wrote {path}")
    if history:
        last = history[-1]
        print("final: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    return out


def _check_config_matches(out: Path, cfg: TrainConfig) -> None:
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


def _samples_latents(module: Any, x: torch.Tensor) -> bool:
    """Whether ``module.guide(x)`` draws any latent variable."""
    with torch.random.fork_rng(devices=[]):
        trace = pyro.poutine.trace(module.guide).get_trace(x)
    sites = pyro.poutine.util.prune_subsample_sites(trace).nodes.values()
    return any(site["type"] == "sample" for site in sites)


def cmd_eval(run_dir: str, num_samples: int, device: str, limit: int | None) -> dict[str, Any]:
    from pyrogen.metrics import latent_report, log_likelihood

    cfg, stepper = load_run(run_dir, device)
    module: Any = stepper.module
    dev = resolve_device(device)
    x = _load_split(cfg, "test").epoch(epoch_generator(cfg.seed, -1)).to(dev)
    if limit:
        # A random subset, never a prefix: some test splits are sorted by class.
        keep = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:limit]
        x = x[keep.to(x.device)]
    result: dict[str, Any] = {"run": str(run_dir), "test_examples": int(x.shape[0])}
    if isinstance(module, GANPair):
        return _eval_samples(module, x, result, Path(run_dir))
    if isinstance(module, DistillationPair):
        return _eval_distillation(module, x, result, Path(run_dir))
    if not (callable(getattr(module, "model", None)) and callable(getattr(module, "guide", None))):
        raise SystemExit(f"error: model {cfg.model!r} has no model/guide pair to evaluate")
    with pyro.validation_enabled(False), torch.no_grad():
        elbo = pyro.infer.Trace_ELBO(num_particles=10, vectorize_particles=False)
        total = sum(
            elbo.loss(module.model, module.guide, x[i : i + 500]) for i in range(0, len(x), 500)
        )
        result["test_elbo"] = -total / x.shape[0]
        # Under torchrun every rank evaluates its shard of the test set.
        init_from_env(dev)
        if _samples_latents(module, x[:1]) or not callable(getattr(module, "log_prob", None)):
            log_px = sharded_log_likelihood(log_likelihood, module, x, num_samples=num_samples)
        else:  # an exact density (autoregressive, flow): log p(x) needs no importance samples
            log_px = torch.cat([module.log_prob(x[i : i + 500]) for i in range(0, len(x), 500)])
            num_samples = 0
        result["test_nll"] = float(-log_px.mean())
    if not _is_rank0():
        return result
    result["nll_samples"] = num_samples
    with pyro.validation_enabled(False), torch.no_grad():
        latent = latent_report(module, x)
    result.update(latent)
    print(f"test ELBO : {result['test_elbo']:.3f} nats per example (10 particles)")
    how = f"{num_samples} IS samples" if num_samples else "exact: no latent variables"
    print(f"test NLL  : {result['test_nll']:.3f} nats per example ({how})")
    if x.dim() == 2:  # 1-D signals (N, T): also per step
        result["test_nll_per_step"] = result["test_nll"] / x.shape[1]
        print(f"test NLL  : {result['test_nll_per_step']:.4f} nats per step (T = {x.shape[1]})")
    for key, value in latent.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<28}: {shown}")
    (Path(run_dir) / "eval.json").write_text(json.dumps(result, indent=2))
    return result


def _eval_samples(
    module: Any, x: torch.Tensor, result: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """Implicit models have no likelihood: compare their samples with the test set by MMD
    and by a classifier two-sample test (accuracy 0.5 = indistinguishable)."""
    from pyrogen.metrics import c2st, mmd

    n = min(1000, x.shape[0])
    with torch.no_grad():
        fake = module.sample(n).reshape(n, -1)
    real = x[:n].reshape(n, -1)
    result["mmd2"] = float(mmd(fake, real))
    result["c2st_accuracy"] = float(c2st(fake, real))
    print(f"MMD^2 (samples vs test) : {result['mmd2']:.4f}")
    print(f"C2ST accuracy           : {result['c2st_accuracy']:.3f} (0.5 = indistinguishable)")
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    return result


def _eval_distillation(
    module: DistillationPair, x: torch.Tensor, result: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """A distilled student has no tractable log p(x): report how its teacher scores its
    samples against the teacher's own, and the KL estimate."""
    r = distillation_report(module, x)
    result.update(r)
    n, t = r["num_samples"], r["length"]
    print(
        f"teacher log-lik per step: own samples {r['teacher_ll_own_per_step']:.4f}, student "
        f"samples {r['teacher_ll_student_per_step']:.4f}, gap {r['ll_gap_per_step']:.4f}"
    )
    if "teacher_ll_test_per_step" in r:
        print(f"teacher log-lik per step of the test set: {r['teacher_ll_test_per_step']:.4f}")
    print(f"KL(p_S || p_T) estimate: {r['kl']:.3f} nats per signal ({r['kl_per_step']:.4f}/step)")
    print(
        f"sampling {n} x T = {t}: student {r['student_sample_seconds']:.3f} s, teacher "
        f"{r['teacher_sample_seconds']:.3f} s"
    )
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    return result


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
