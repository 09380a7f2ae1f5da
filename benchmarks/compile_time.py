"""Compile time of ``SVITrainer(vae, compile=True)``: the first step, cold and warm cache.

``compile=True`` hands the hand-derived VAE step to ``torch.compile``, which compiles on the
first step. Each run is a fresh child process (VAE 784-400-20, ReLU, Bernoulli, ELBO K = 1,
batch 128, fixed binarized MNIST, one torch thread) that times the first step of the default
trainer and of ``compile=True``, then races the two trainers' later steps in interleaved
rounds. *Cold*: Inductor's cache (``TORCHINDUCTOR_CACHE_DIR``) is a new empty folder, as on a
machine's first run; *warm*: the folder the previous cold run filled, as on any later run
with the same shapes. Break-even: the extra seconds of the compiled first step divided by
the seconds it saves per later step (paired within rounds)::

    python benchmarks/compile_time.py --runs 3 --rounds 5 --seconds 0.3 --compile-threads 1

Each first step is timed in wall-clock seconds and in CPU seconds (the process and its
finished child processes, which include the C++ compiler's runs when Inductor compiles
in-process, ``--compile-threads 1``): on a shared machine the second does not depend on the
share of a core the process gets.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its finished children (the C++
    compiler runs); the compile workers of a pool (``--compile-threads`` > 1) are missed."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(args: argparse.Namespace) -> None:
    import pyro
    import torch
    from svi_step import _elbo, _vae, race

    from pyrogen.data import load
    from pyrogen.infer import SVITrainer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[: 20 * args.batch]
    batches = [x[i : i + args.batch] for i in range(0, len(x), args.batch)]
    first, cpu, trainers = {}, {}, {}
    with pyro.validation_enabled(False):
        for name, compile in (("default", False), ("compile=True", True)):
            trainer = SVITrainer(_vae(), _elbo(1), lr=1e-3, compile=compile)
            t0, c0 = time.perf_counter(), _cpu_seconds()
            trainer.step(batches[0])
            first[name] = time.perf_counter() - t0
            cpu[name] = _cpu_seconds() - c0
            trainers[name] = trainer
        rates = race(
            {n: (t.step, lambda _: None, batches) for n, t in trainers.items()},
            args.rounds,
            args.seconds,
        )
    path = trainers["compile=True"].path
    print(json.dumps({"first_s": first, "first_cpu_s": cpu, "steps_per_s": rates, "path": path}))


def parent(args: argparse.Namespace) -> str:
    cmd = [sys.executable, __file__, "--child", f"--batch={args.batch}"]
    cmd += [f"--rounds={args.rounds}", f"--seconds={args.seconds}"]
    cmd += [f"--data-root={args.data_root}"] if args.data_root else []
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            cache = str(Path(tmp) / f"cache{i}")  # new and empty: cold
            for kind in ("cold", "warm"):
                env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
                if args.compile_threads:
                    env["TORCHINDUCTOR_COMPILE_THREADS"] = str(args.compile_threads)
                res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                runs[kind].append(json.loads(res.stdout.strip().splitlines()[-1]))
                print(f"run {i} ({kind}): {runs[kind][-1]['first_s']}", flush=True)
    rows = [
        "| cache | first step, compile=True: wall s (CPU s) | first step, default: wall s "
        "(CPU s) | later steps/s, default | later steps/s, compile=True | paired speed-up of "
        "later steps | break-even (steps) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, rs in runs.items():
        for r in rs:
            d, c = r["steps_per_s"]["default"], r["steps_per_s"]["compile=True"]
            paired = statistics.median(b / a for a, b in zip(d, c))
            saved = 1 / statistics.median(d) - 1 / statistics.median(c)  # s per step
            extra = r["first_s"]["compile=True"] - r["first_s"]["default"]
            even = f"{extra / saved:,.0f}" if saved > 0 else "never (no saving)"
            rows.append(
                f"| {kind} | {r['first_s']['compile=True']:.1f} "
                f"({r['first_cpu_s']['compile=True']:.1f}) | {r['first_s']['default']:.2f} "
                f"({r['first_cpu_s']['default']:.2f}) | {statistics.median(d):.0f} | "
                f"{statistics.median(c):.0f} | {paired:.2f}x | {even} |"
            )
    import torch

    text = (
        "# Compile time of SVITrainer(vae, compile=True)\n\n"
        f"`python benchmarks/compile_time.py {' '.join(args.argv)}`\n\n"
        f"VAE 784-400-20 (ReLU, Bernoulli), ELBO K = 1, batch {args.batch}, one torch thread, "
        f"each row a fresh process ({args.runs} cold and {args.runs} warm, alternating); later "
        f"steps: {args.rounds} interleaved rounds of >= {args.seconds} s; compiled path "
        f"{runs['cold'][0]['path']}; Inductor compile threads "
        f"{args.compile_threads or 'torch default'}; torch {torch.__version__}, "
        f"{os.cpu_count()} cores, load average at the end {os.getloadavg()}. Wall seconds "
        "depend on the share of a core the process gets on a shared machine; CPU seconds "
        "(the process and its finished children, i.e. the C++ compiler runs) do not. "
        "Break-even: wall seconds over wall seconds, so a share of the core that holds "
        "during a run cancels out.\n\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return text


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--runs", type=int, default=3, help="cold/warm pairs of processes")
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--seconds", type=float, default=0.3)
parser.add_argument("--batch", type=int, default=128)
parser.add_argument(
    "--compile-threads",
    type=int,
    default=None,
    help="TORCHINDUCTOR_COMPILE_THREADS; 1 compiles in-process, so CPU seconds count it all",
)
parser.add_argument("--data-root", default=None)
parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
parser.add_argument("--smoke", action="store_true", help="one cold/warm pair, nothing written")
parser.add_argument("--out", default="benchmarks/results/compile_time.md")

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    if ns.smoke:
        ns.runs, ns.rounds, ns.seconds, ns.out = 1, 1, 0.05, None
    child(ns) if ns.child else parent(ns)
