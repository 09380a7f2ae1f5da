"""Training-step throughput: pyrogen vs hand-written PyTorch vs Pyro SVI vs NumPyro.

The same network (VAE 784-400-20, ReLU, Bernoulli decoder), the same batches of fixed
binarized MNIST and the same objective (the K-particle ELBO with vectorized particles; the
K-sample IWAE bound in the IWAE section) in every contestant. For each (batch size, K) the
contestants run interleaved, in rounds, in one process, so that drifts of the machine's
speed hit all of them alike; the table reports the median steps per second over rounds, the
ratio to the hand-written eager loop (default Adam), the *paired ratio* (the median over
rounds of the ratio within a round: the machine's speed drifts over seconds, and a round's
contestants run within seconds of each other), and the share of the *GEMM ceiling*: the
steps per second if a step cost only its matrix products (forward and backward GEMMs of the
same shapes, timed alone with torch's kernels)::

    python benchmarks/svi_step.py --rounds 5 --seconds 0.3 --threads 2

NumPyro runs when installed (``pip install numpyro jax``, the ``bench`` extra), with a
jitted ``svi.update`` and its own copy of the network written with ``numpyro.param``. XLA
sizes its thread pool from the cores it can see and ignores torch's thread setting, so with
``--threads N`` below the core count the whole process is pinned to N cores: every
contestant gets the same cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyro
import svi_baselines as nets
import torch
from pyro.infer import SVI, Trace_ELBO

from pyrogen.data import load
from pyrogen.infer import SVITrainer
from pyrogen.models import VAE
from pyrogen.objectives import IWAE_ELBO

Step = Callable[[torch.Tensor], object]


def _vae() -> VAE:
    return VAE((1, 28, 28), z_dim=nets.Z_DIM, hidden=(nets.HIDDEN,), act="relu")


def _elbo(k: int) -> Trace_ELBO:
    if k == 1:
        return Trace_ELBO()
    return Trace_ELBO(num_particles=k, vectorize_particles=True, max_plate_nesting=1)


def pyrogen_step(
    k: int, fast: bool = True, compile: bool = False, manual: bool = True, iwae: bool = False
) -> Step:
    loss = IWAE_ELBO(num_particles=k) if iwae else _elbo(k)
    trainer = SVITrainer(_vae(), loss, lr=1e-3, fast=fast, compile=compile, manual_backward=manual)
    assert trainer.fast is fast, trainer.fast_reason
    return trainer.step


def pyro_svi_step(k: int) -> Step:
    """Pyro's documented recipe: pyro.module + SVI with pyro.optim.Adam, validation on."""
    vae = _vae()

    def model(x: torch.Tensor) -> None:
        pyro.module("vae", vae)
        vae.model(x)

    def guide(x: torch.Tensor) -> None:
        pyro.module("vae", vae)
        vae.guide(x)

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), _elbo(k))

    def step(x: torch.Tensor) -> None:
        with pyro.settings.context(module_local_params=False), pyro.validation_enabled(True):
            svi.step(x)

    return step


def _time(step: Step, batches: list[torch.Tensor], seconds: float, sync: Callable) -> float:
    """Steps per second over at least ``seconds`` (and at least two steps)."""
    n, t0 = 0, time.perf_counter()
    while True:
        out = step(batches[n % len(batches)])
        n += 1
        elapsed = time.perf_counter() - t0
        if n >= 2 and elapsed >= seconds:
            sync(out)
            return n / (time.perf_counter() - t0)


def _no_sync(out: object) -> None:
    pass


def race(
    contestants: dict[str, tuple[Step, Callable, list]], rounds: int, seconds: float
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {k: [] for k in contestants}
    for r in range(rounds + 1):
        for name, (step, sync, batches) in contestants.items():
            rate = _time(step, batches, seconds if r else 0.0, sync)
            if r > 0:  # round 0 warms up (and compiles) every contestant
                rates[name].append(rate)
    return rates


def config(args: argparse.Namespace, x: torch.Tensor, batch: int, k: int, iwae: bool) -> list:
    batches = [x[i : i + batch] for i in range(0, len(x) - batch + 1, batch)][:20]
    flat = [b.reshape(b.shape[0], -1) for b in batches]
    c: dict[str, tuple[Step, Callable, list]] = {}
    kind = "iwae" if iwae else "elbo"
    c["hand-written PyTorch eager"] = (nets.hand_step(k, kind, fused=False), _no_sync, flat)
    c["hand-written PyTorch eager, fused Adam"] = (nets.hand_step(k, kind, True), _no_sync, flat)
    if iwae:
        c["pyrogen SVITrainer (IWAE_ELBO, default)"] = (
            pyrogen_step(k, iwae=True),
            _no_sync,
            batches,
        )
        c["pyrogen SVITrainer (IWAE_ELBO, autograd)"] = (
            pyrogen_step(k, manual=False, iwae=True),
            _no_sync,
            batches,
        )
    else:
        c["pyrogen SVITrainer (default: hand-derived backward)"] = (
            pyrogen_step(k),
            _no_sync,
            batches,
        )
        c["pyrogen SVITrainer (manual_backward=False: autograd)"] = (
            pyrogen_step(k, manual=False),
            _no_sync,
            batches,
        )
        c["pyrogen SVITrainer (fast=False: Pyro tracing)"] = (
            pyrogen_step(k, fast=False),
            _no_sync,
            batches,
        )
        if args.compile and batch == 128 and k == 1:
            c["hand-written PyTorch, torch.compile, fused Adam"] = (
                nets.hand_step(k, kind, True, compiled=True),
                _no_sync,
                flat,
            )
            c["pyrogen SVITrainer (compile=True: compiled hand-derived step)"] = (
                pyrogen_step(k, compile=True),
                _no_sync,
                batches,
            )
        c["Pyro SVI (default recipe)"] = (pyro_svi_step(k), _no_sync, batches)
    npy = nets.numpyro_step(k, kind, flat) if not args.no_numpyro else None
    if npy is not None:
        c["NumPyro (jit)"] = npy
    rates = race(c, args.rounds, args.seconds)
    ceiling = nets.gemm_ceiling(batch, k, args.rounds)
    eager = rates["hand-written PyTorch eager"]
    base = statistics.median(eager)
    rows = []
    for name, rs in rates.items():
        med = statistics.median(rs)
        # the ratio within each round, where both ran within seconds of each other
        paired = statistics.median(r / e for r, e in zip(rs, eager))
        rows.append(
            f"| {batch} | {k} | {name} | {med:.3g} | {min(rs):.3g}-{max(rs):.3g} | "
            f"{med / base:.2f}x | {paired:.2f}x | {100 * med / ceiling:.0f}% |"
        )
    rows.append(f"| {batch} | {k} | *GEMM ceiling (matmuls only)* | {ceiling:.3g} | | | | 100% |")
    print("\n".join(rows), flush=True)
    return rows


def pin_to_cores(n: int) -> str:
    """Restricts this process (and so XLA's thread pool) to ``n`` cores, where possible."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cores = sorted(os.sched_getaffinity(0))
    if n < len(cores):
        os.sched_setaffinity(0, cores[:n])
    return f"process pinned to {min(n, len(cores))} of {len(cores)} cores"


def run_conditions(args: argparse.Namespace, pinned: str) -> str:
    """The sentence every step-benchmark report states its measuring conditions with."""
    load_avg = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{args.rounds} interleaved rounds of >= {args.seconds} s per contestant, "
        f"{args.threads} torch threads, {pinned}; torch {torch.__version__}, "
        f"pyro {pyro.__version__}, {nets.numpyro_version()}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average at the end {load_avg}."
    )


def write_report(out: str | None, text: str) -> str:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return text


def main(args: argparse.Namespace) -> str:
    pinned = pin_to_cores(args.threads)  # before jax starts its thread pool
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[:10240]
    header = [
        "| batch | K | contestant | median steps/s | range | vs hand-written eager | "
        "paired ratio | % of GEMM ceiling |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    elbo_rows, iwae_rows = list(header), list(header)
    with pyro.validation_enabled(False):
        for batch in args.batch_sizes:
            for k in args.particles:
                elbo_rows += config(args, x, batch, k, iwae=False)
        for batch in args.iwae_batch_sizes:
            iwae_rows += config(args, x, batch, args.iwae_k, iwae=True)
    text = (
        "# Training-step throughput\n\n"
        f"`python benchmarks/svi_step.py {' '.join(args.argv)}`\n\n"
        f"VAE 784-{nets.HIDDEN}-{nets.Z_DIM} (ReLU, Bernoulli), fixed binarized MNIST; "
        f"{run_conditions(args, pinned)}\n\n"
        "## ELBO (K particles, vectorized)\n\n" + "\n".join(elbo_rows) + "\n\n"
        f"## IWAE, K = {args.iwae_k}\n\n" + "\n".join(iwae_rows) + "\n"
    )
    return write_report(args.out, text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--seconds", type=float, default=0.3, help="per contestant per round")
parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
parser.add_argument("--particles", type=int, nargs="+", default=[1, 5, 50])
parser.add_argument("--iwae-k", type=int, default=50)
parser.add_argument("--iwae-batch-sizes", type=int, nargs="+", default=[128])
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--compile", action="store_true", help="add a torch.compile contestant")
parser.add_argument("--no-numpyro", action="store_true")
parser.add_argument("--data-root", default=None)
parser.add_argument("--out", default="benchmarks/results/svi_step.md")

if __name__ == "__main__":
    import sys

    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    main(ns)
