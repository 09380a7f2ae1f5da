"""Training-step throughput on a user's own model: the README's VAE, written in Pyro syntax.

The model is the README's example verbatim (a PyroModule with plain ``nn.Sequential``
networks, 784-400-20, ReLU, Bernoulli), not a pyrogen model, so pyrogen's built-in VAE path
cannot apply: ``SVITrainer`` takes its general tracing-free objective
(:mod:`pyrogen.infer.tracing_free`), which the trainer checks against Pyro's value on the
first batch. Contestants, interleaved in rounds in one process on the same batches of fixed
binarized MNIST, each minimizing the single-sample negative ELBO with Adam(1e-3):

* pyrogen ``SVITrainer`` (default; and ``fast=False``, Pyro's own traced ``Trace_ELBO``);
* the same network written by hand in PyTorch with fused Adam (explicit log-densities, no
  distribution objects: the strongest eager baseline), and with the default Adam;
* Pyro's ``SVI`` with ``pyro.optim.Adam``, the model registered by ``pyro.module``;
* NumPyro's ``SVI.update`` under ``jax.jit`` on a copy of the network (``bench`` extra).

The table reports median steps per second over rounds and the *paired ratio* to the
hand-written fused-Adam loop (the median over rounds of the ratio within a round)::

    python benchmarks/user_vae_step.py --rounds 25 --seconds 0.3 --threads 2 \\
        --data-root ../shared/data --out benchmarks/results/user_vae_step.md
"""

from __future__ import annotations

import argparse
import statistics
import sys

import pyro
import pyro.distributions as dist
import svi_baselines as nets
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.nn import PyroModule
from svi_step import _no_sync, pin_to_cores, race, run_conditions, write_report
from torch import nn

from pyrogen.data import load
from pyrogen.infer import SVITrainer


class ReadmeVAE(PyroModule):
    """The README's example, unchanged."""

    def __init__(self, z: int = 20):
        super().__init__()
        self.z, self.enc = (
            z,
            nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * z)),
        )
        self.dec = nn.Sequential(
            nn.Linear(z, 400), nn.ReLU(), nn.Linear(400, 784), nn.Unflatten(-1, (1, 28, 28))
        )

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.z), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(3), obs=x)

    def guide(self, x):
        loc, s = self.enc(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(s) + 1e-4).to_event(1))


def pyrogen_step(fast: bool, first: torch.Tensor, expect: str):
    trainer = SVITrainer(ReadmeVAE(), Trace_ELBO(), lr=1e-3, fast=fast)
    trainer.step(first)  # the first batch decides (and checks) the path
    assert trainer.path == expect, (trainer.path, trainer.path_reason)
    return trainer.step


def pyro_svi_step():
    vae = ReadmeVAE()

    def model(x):
        pyro.module("vae", vae)
        vae.model(x)

    def guide(x):
        pyro.module("vae", vae)
        vae.guide(x)

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())

    def step(x):
        with pyro.settings.context(module_local_params=False):
            svi.step(x)

    return step


def main(args: argparse.Namespace) -> str:
    pinned = pin_to_cores(args.threads)  # before jax starts its thread pool
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[:10240]
    b = args.batch_size
    batches = [x[i : i + b] for i in range(0, len(x) - b + 1, b)][:20]
    flat = [t.reshape(t.shape[0], -1) for t in batches]
    base = "hand-written PyTorch, fused Adam"
    c = {
        base: (nets.hand_step(1, "elbo", fused=True), _no_sync, flat),
        "hand-written PyTorch, default Adam": (nets.hand_step(1, "elbo", False), _no_sync, flat),
        "pyrogen SVITrainer (default)": (
            pyrogen_step(True, batches[0], "tracing-free"),
            _no_sync,
            batches,
        ),
        "pyrogen SVITrainer (fast=False: Pyro's Trace_ELBO)": (
            pyrogen_step(False, batches[0], "pyro"),
            _no_sync,
            batches,
        ),
        "Pyro SVI (pyro.module, pyro.optim.Adam)": (pyro_svi_step(), _no_sync, batches),
    }
    npy = nets.numpyro_step(1, "elbo", flat) if not args.no_numpyro else None
    if npy is not None:
        c["NumPyro SVI (jax.jit)"] = npy
    with pyro.validation_enabled(False):
        rates = race(c, args.rounds, args.seconds)
    rows = [
        "| contestant | median steps/s | range | paired ratio to hand-written fused Adam |",
        "|---|---:|---:|---:|",
    ]
    ref = rates[base]
    for name, rs in rates.items():
        paired = statistics.median(r / e for r, e in zip(rs, ref))
        rows.append(
            f"| {name} | {statistics.median(rs):.3g} | {min(rs):.3g}-{max(rs):.3g} | "
            f"{paired:.2f}x |"
        )
    ours = rates["pyrogen SVITrainer (default)"]
    vs = {
        name: statistics.median(r / o for r, o in zip(rates[name], ours))
        for name in rates
        if name != "pyrogen SVITrainer (default)"
    }
    text = (
        "# Training-step throughput on the README's user VAE\n\n"
        f"`python benchmarks/user_vae_step.py {' '.join(args.argv)}`\n\n"
        f"The README's VAE (784-400-20, ReLU, Bernoulli) at batch {b}, fixed binarized MNIST; "
        f"{run_conditions(args, pinned)}\n\n"
        + "\n".join(rows)
        + "\n\npyrogen's default against each (paired, > 1 means pyrogen is faster): "
        + ", ".join(f"{name} {1 / r:.2f}x" for name, r in vs.items())
        + ".\n"
    )
    print(text)
    return write_report(args.out, text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--seconds", type=float, default=0.3, help="per contestant per round")
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--no-numpyro", action="store_true")
parser.add_argument("--data-root", default=None)
parser.add_argument("--out", default=None)

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    main(ns)
