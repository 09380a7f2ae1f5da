"""The ``pyrogen`` command's arguments: ``train``, ``eval``, ``sample`` and ``list``.

Options of ``train`` default to ``None``, so that those given can be told apart from those
left out: :func:`train_config` returns both, and the given ones are checked against what the
model applies (:mod:`pyrogen.cli.options`) and against a resumed run's settings
(:mod:`pyrogen.cli.resume`).
"""

from __future__ import annotations

import argparse
import dataclasses

from pyrogen.cli.runs import TrainConfig
from pyrogen.infer.schedules import SCHEDULES

DESCRIPTION = "The ``pyrogen`` command: ``train``, ``eval``, ``sample`` and ``list``."


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
    p = argparse.ArgumentParser(prog="pyrogen", description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model; writes a run directory")
    # Options default to None, so that those given can be told apart (pyrogen.cli.options
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
