"""HierarchicalVAE training step: pyrogen's tracing-free objective vs Pyro's traced one.

``SVITrainer(HierarchicalVAE(...))`` evaluates the bound with
:class:`~pyrogen.infer.fast_hvae.HierarchicalObjective` (no Pyro traces); ``fast=False``
runs Pyro's ``Trace_ELBO`` / ``IWAE_ELBO`` on the same model and guide. The IWAE paper's
architectures (one stochastic layer: 784-200-200-50; two: 784-200-200-100-100-100-50, tanh,
Bernoulli), its batch of 20, fixed binarized MNIST, Adam(1e-3), the single-sample ELBO
(K = 1) and the IWAE bound with K = 50. For each setting the two contestants run
interleaved, in rounds, in one process; the table reports median steps per second, their
range, and the *paired ratio* fast / Pyro (the median over rounds of the ratio within a
round, which a drift of the machine's speed over seconds does not bias)::

    python benchmarks/hvae_step.py --rounds 9 --seconds 0.5 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys

import pyro
import torch
from pyro.infer import ELBO, Trace_ELBO
from svi_step import _no_sync, pin_to_cores, race, run_conditions, write_report

from pyrogen.data import load
from pyrogen.infer import SVITrainer
from pyrogen.models import HierarchicalVAE
from pyrogen.objectives import IWAE_ELBO

LAYERS = {1: (50,), 2: (100, 50)}


def _loss(k: int) -> ELBO:
    return Trace_ELBO() if k == 1 else IWAE_ELBO(num_particles=k)


def trainer_step(z_dims: tuple[int, ...], k: int, fast: bool):
    torch.manual_seed(0)
    trainer = SVITrainer(HierarchicalVAE((1, 28, 28), z_dims=z_dims), _loss(k), fast=fast)
    return trainer


def setting(args: argparse.Namespace, batches: list, layers: int, k: int) -> list[str]:
    fast = trainer_step(LAYERS[layers], k, fast=True)
    slow = trainer_step(LAYERS[layers], k, fast=False)
    contestants = {
        "pyrogen (tracing-free)": (fast.step, _no_sync, batches),
        "Pyro traced (fast=False)": (slow.step, _no_sync, batches),
    }
    rates = race(contestants, args.rounds, args.seconds)
    # the path each contestant really took (the fast path may fall back on the first batch)
    paths = {"pyrogen (tracing-free)": fast.path, "Pyro traced (fast=False)": slow.path}
    f, s = rates["pyrogen (tracing-free)"], rates["Pyro traced (fast=False)"]
    paired = [a / b for a, b in zip(f, s)]
    objective = "ELBO, K = 1" if k == 1 else f"IWAE, K = {k}"
    rows = []
    for name, rs in rates.items():
        med = statistics.median(rs)
        rows.append(
            f"| {layers} | {objective} | {name} (path: {paths[name]}) | {med:.3g} | "
            f"{1000 / med:.2f} | {min(rs):.3g}-{max(rs):.3g} |"
        )
    rows.append(
        f"| {layers} | {objective} | *paired ratio pyrogen / Pyro* | "
        f"{statistics.median(paired):.2f}x | | {min(paired):.2f}x-{max(paired):.2f}x |"
    )
    print("\n".join(rows), flush=True)
    return rows


def main(args: argparse.Namespace) -> str:
    pinned = pin_to_cores(args.threads)
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[: 20 * args.batch]
    batches = [x[i : i + args.batch] for i in range(0, len(x), args.batch)]
    rows = [
        "| stochastic layers | objective | contestant | median steps/s | ms/step | range |",
        "|---:|---|---|---:|---:|---:|",
    ]
    with pyro.validation_enabled(False):
        for k in args.particles:
            for layers in args.layers:
                rows += setting(args, batches, layers, k)
    text = (
        "# HierarchicalVAE step: tracing-free vs Pyro's traced objective\n\n"
        f"`python benchmarks/hvae_step.py {' '.join(args.argv)}`\n\n"
        f"IWAE-paper architectures (1 layer: z = 50; 2 layers: z = 100, 50; tanh, Bernoulli), "
        f"batch {args.batch}, fixed binarized MNIST, Adam(1e-3); {run_conditions(args, pinned)}"
        "\n\n" + "\n".join(rows) + "\n"
    )
    return write_report(args.out, text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rounds", type=int, default=9)
parser.add_argument("--seconds", type=float, default=0.5, help="per contestant per round")
parser.add_argument("--batch", type=int, default=20)
parser.add_argument("--layers", type=int, nargs="+", default=[1, 2], choices=sorted(LAYERS))
parser.add_argument("--particles", type=int, nargs="+", default=[1, 50])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--data-root", default=None)
parser.add_argument("--smoke", action="store_true", help="one short round, nothing written")
parser.add_argument("--out", default="benchmarks/results/hvae_step.md")

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    if ns.smoke:
        ns.rounds, ns.seconds, ns.out = 1, 0.05, None
    main(ns)
