"""GFLOP/s of one matrix product on one core: torch (its BLAS, MKL here) vs XLA (jax).

The largest product of the VAE step of ``svi_step.py`` is the encoder's first layer,
(128 x 784) @ (784 x 400) at batch 128: 2 * 128 * 784 * 400 = 80 MFLOP. Both libraries
multiply the same float32 matrices into a preallocated (torch ``out=``) or fresh (XLA)
result, interleaved in rounds in one process pinned to ``--threads`` cores (XLA sizes its
thread pool from the cores it can see, so pinning is what limits it); the table reports the
median GFLOP/s over rounds, the range, and the paired ratio XLA / torch (the median over
rounds of the ratio within a round), each per second of CPU time (robust to other processes
sharing the core) and per wall-clock second::

    python benchmarks/gemm_rate.py --rounds 15 --seconds 0.3 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from svi_step import pin_to_cores, run_conditions, write_report


def _rate(
    fn: Callable[[], object], sync: Callable[[object], None], seconds: float
) -> tuple[float, float]:
    """Calls per wall-clock second and per CPU second of this process (all its threads), over
    at least ``seconds`` of wall time and at least three calls."""
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        out = fn()
        n += 1
        if n >= 3 and time.perf_counter() - t0 >= seconds:
            sync(out)
            return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def contestants(m: int, k: int, n: int) -> dict[str, tuple[Callable, Callable]]:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    out = torch.empty(m, n)
    c: dict[str, tuple[Callable, Callable]] = {
        f"torch.mm (BLAS: {'MKL' if torch.backends.mkl.is_available() else 'not MKL'})": (
            lambda: torch.mm(a, b, out=out),
            lambda _: None,
        )
    }
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return c
    ja, jb = jnp.asarray(a.numpy()), jnp.asarray(b.numpy())
    dot = jax.jit(jnp.dot)
    c[f"XLA jnp.dot under jit (jax {jax.__version__})"] = (
        lambda: dot(ja, jb),
        jax.block_until_ready,
    )
    return c


def main(args: argparse.Namespace) -> str:
    pinned = pin_to_cores(args.threads)  # before jax starts its thread pool
    torch.set_num_threads(args.threads)
    rows = [
        "| product (m x k) @ (k x n) | contestant | per second of | median GFLOP/s | range "
        "| paired ratio |",
        "|---|---|---|---:|---:|---:|",
    ]
    for shape in args.shapes:
        m, k, n = (int(v) for v in shape.split(","))
        flop = 2.0 * m * k * n
        c = contestants(m, k, n)
        wall: dict[str, list[float]] = {name: [] for name in c}
        cpu: dict[str, list[float]] = {name: [] for name in c}
        for r in range(args.rounds + 1):
            for name, (fn, sync) in c.items():
                per_wall, per_cpu = _rate(fn, sync, args.seconds if r else 0.05)
                if r:  # round 0 warms up (and jit-compiles)
                    wall[name].append(per_wall * flop / 1e9)
                    cpu[name].append(per_cpu * flop / 1e9)
        for clock, rates in (("CPU", cpu), ("wall", wall)):
            first = next(iter(rates.values()))
            for name, gf in rates.items():
                paired = statistics.median(x / y for x, y in zip(gf, first))
                rows.append(
                    f"| ({m} x {k}) @ ({k} x {n}) | {name} | {clock} | "
                    f"{statistics.median(gf):.1f} | {min(gf):.1f}-{max(gf):.1f} | {paired:.2f}x |"
                )
        print("\n".join(rows[-2 * len(c) :]), flush=True)
    text = (
        "# GFLOP/s of one matrix product\n\n"
        f"`python benchmarks/gemm_rate.py {' '.join(args.argv)}`\n\n"
        f"float32; {run_conditions(args, pinned)} GFLOP/s per second of the process's CPU "
        "time (all its threads) and per wall-clock second: on a machine shared with other "
        "processes the wall-clock rate is the kernel's rate times the share of the core the "
        "process got, while the CPU-time rate is the kernel's own. Paired ratio: against the "
        "first row of the same product and clock.\n\n" + "\n".join(rows) + "\n"
    )
    return write_report(args.out, text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rounds", type=int, default=15)
parser.add_argument("--seconds", type=float, default=0.3, help="per contestant per round")
parser.add_argument("--shapes", nargs="+", default=["128,784,400"], help="m,k,n")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--smoke", action="store_true", help="one short round, nothing written")
parser.add_argument("--out", default="benchmarks/results/gemm_rate.md")

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    if ns.smoke:
        ns.rounds, ns.seconds, ns.out = 1, 0.05, None
    main(ns)
