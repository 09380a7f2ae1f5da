"""Training-step throughput: pyrogen vs hand-written PyTorch vs Pyro's default SVI.

The same network (VAE 784-400-20, ReLU, Bernoulli decoder), the same batches of fixed
binarized MNIST and the same objective (single-sample ELBO) in every contestant. The
contestants run interleaved, in rounds, in one process, so that drifts of the machine's
speed hit all of them alike; the table reports the median steps per second over rounds and
the ratio to the hand-written loop::

    python benchmarks/svi_step.py --rounds 7 --steps 100 --threads 2
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyro
import torch
import torch.nn.functional as F
from pyro.infer import SVI, Trace_ELBO
from torch import nn

from pyrogen.data import load
from pyrogen.infer import SVITrainer
from pyrogen.models import VAE

X_DIM, HIDDEN, Z_DIM = 784, 400, 20


class HandVAE(nn.Module):
    """The same VAE written directly in PyTorch, the baseline every contestant is timed
    against."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(X_DIM, HIDDEN)
        self.mu = nn.Linear(HIDDEN, Z_DIM)
        self.sigma = nn.Linear(HIDDEN, Z_DIM)
        self.dec1 = nn.Linear(Z_DIM, HIDDEN)
        self.dec2 = nn.Linear(HIDDEN, X_DIM)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.enc(x))
        loc, scale = self.mu(h), F.softplus(self.sigma(h)) + 1e-4
        z = loc + scale * torch.randn_like(loc)
        logits = self.dec2(F.relu(self.dec1(z)))
        log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_qz = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
        return -(log_px + log_pz - log_qz).mean()


def hand_step(fused: bool) -> Callable[[torch.Tensor], None]:
    model = HandVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)

    def step(x: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        model.loss(x.reshape(x.shape[0], -1)).backward()
        opt.step()

    return step


def pyrogen_step() -> Callable[[torch.Tensor], None]:
    vae = VAE((1, 28, 28), z_dim=Z_DIM, hidden=(HIDDEN,), act="relu")
    trainer = SVITrainer(vae, Trace_ELBO(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        trainer.step(x)

    return step


def pyro_svi_step() -> Callable[[torch.Tensor], None]:
    """Pyro's documented recipe: pyro.module + SVI with pyro.optim.Adam, validation on."""
    vae = VAE((1, 28, 28), z_dim=Z_DIM, hidden=(HIDDEN,), act="relu")

    def model(x: torch.Tensor) -> None:
        pyro.module("vae", vae)
        vae.model(x)

    def guide(x: torch.Tensor) -> None:
        pyro.module("vae", vae)
        vae.guide(x)

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())

    def step(x: torch.Tensor) -> None:
        with pyro.settings.context(module_local_params=False), pyro.validation_enabled(True):
            svi.step(x)

    return step


def main(args: argparse.Namespace) -> str:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[: args.batch_size * 50]
    batches = [x[i : i + args.batch_size] for i in range(0, len(x), args.batch_size)]
    contestants = {
        "hand-written PyTorch (Adam default)": hand_step(fused=False),
        "hand-written PyTorch (fused Adam)": hand_step(fused=True),
        "pyrogen SVITrainer + fit step": pyrogen_step(),
        "Pyro SVI (default recipe)": pyro_svi_step(),
    }
    rates: dict[str, list[float]] = {k: [] for k in contestants}
    with pyro.validation_enabled(False):
        for r in range(args.rounds + 1):
            for name, step in contestants.items():
                t0 = time.perf_counter()
                for i in range(args.steps):
                    step(batches[i % len(batches)])
                if r > 0:  # round 0 warms up every contestant
                    rates[name].append(args.steps / (time.perf_counter() - t0))
    base = statistics.median(rates["hand-written PyTorch (Adam default)"])
    lines = [
        f"VAE {X_DIM}-{HIDDEN}-{Z_DIM}, batch {args.batch_size}, fixed binarized MNIST; "
        f"{args.rounds} interleaved rounds of {args.steps} steps, {args.threads} threads, "
        f"torch {torch.__version__}, pyro {pyro.__version__}, {platform.processor() or 'cpu'}.",
        "",
        "| contestant | median steps/s | min | max | ratio to hand-written |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rs in rates.items():
        med = statistics.median(rs)
        lines.append(f"| {name} | {med:.1f} | {min(rs):.1f} | {max(rs):.1f} | {med / base:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            f"# Training-step throughput\n\n`python benchmarks/svi_step.py "
            f"--rounds {args.rounds} --steps {args.steps} --threads {args.threads}`\n\n"
            f"{table}\n"
        )
    return table


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rounds", type=int, default=7)
parser.add_argument("--steps", type=int, default=100)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--data-root", default=None)
parser.add_argument("--out", default="benchmarks/results/svi_step.md")

if __name__ == "__main__":
    main(parser.parse_args())
