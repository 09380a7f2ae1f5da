"""Page faults and time of a K = 50 VAE step, with glibc's default allocator and tuned.

At K = 50 and batch 128 a VAE step makes tensors of 50 x 128 x 784 floats (20 MB). glibc
serves blocks that large from fresh ``mmap`` pages and returns them on ``free``, so every
step the kernel maps and zeroes them again, one minor page fault per 4 KB page touched.
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` make glibc keep them instead; they
are read when the process starts, so each setting runs in its own child processes,
alternating, ``--children`` of each. In every child the contestants run interleaved in
rounds of ``--steps`` steps (ELBO, K = 50 vectorized particles, VAE 784-400-20, ReLU,
Bernoulli, fixed binarized MNIST, Adam(1e-3), one core):

* pyrogen ``SVITrainer`` default (hand-derived backward, intermediates in reused buffers);
* the same step with its buffers not reused (a fresh tensor per intermediate each step);
* pyrogen with ``manual_backward=False`` (autograd);
* the hand-written PyTorch eager loop of ``svi_step.py``.

Per round: milliseconds per step, and minor page faults per step from ``getrusage`` around
the timed steps. The table gives the median and range over all rounds of all children, and
the *paired ratios* within a round (against pyrogen's default step, in the same process
seconds apart), which a drift of the machine's speed does not bias::

    python benchmarks/page_faults.py --children 4 --rounds 3 --steps 8
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TUNED = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
SETTINGS = ("default", "tuned")  # tuned: the environment variables TUNED
DEFAULT = "pyrogen, hand-derived (default: buffers reused)"
NAMES = (
    DEFAULT,
    "pyrogen, hand-derived, buffers not reused",
    "pyrogen, autograd (manual_backward=False)",
    "hand-written PyTorch eager",
)


def contestants(k: int) -> dict[str, Callable]:
    import svi_baselines as nets
    from svi_step import _elbo, _vae

    from pyrogen.infer import SVITrainer

    def trainer(**kw) -> SVITrainer:
        t = SVITrainer(_vae(), _elbo(k), lr=1e-3, **kw)
        assert t.fast, t.fast_reason
        return t

    reuse, fresh, autograd = trainer(), trainer(), trainer(manual_backward=False)
    assert reuse.objective.manual is not None, reuse.backward_reason
    fresh.objective.manual.ws.reuse = False  # every intermediate a fresh tensor each step
    return dict(
        zip(NAMES, (reuse.step, fresh.step, autograd.step, nets.hand_step(k, "elbo", False)))
    )


def child(args: argparse.Namespace) -> None:
    import pyro
    import torch

    from pyrogen.data import load

    torch.set_num_threads(1)
    torch.manual_seed(0)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[: 20 * args.batch]
    batches = [x[i : i + args.batch] for i in range(0, len(x), args.batch)]
    flat = [b.reshape(b.shape[0], -1) for b in batches]
    out: dict[str, list] = {name: [] for name in NAMES}
    with pyro.validation_enabled(False):
        steps = contestants(args.k)
        for r in range(args.rounds + 1):
            for name, step in steps.items():
                data = flat if name.startswith("hand") else batches
                n = args.steps if r else 2  # round 0: first batch, buffers, warm caches
                before = resource.getrusage(resource.RUSAGE_SELF)
                t0 = time.perf_counter()
                for i in range(n):
                    step(data[i % len(data)])
                ms = 1000 * (time.perf_counter() - t0) / n
                after = resource.getrusage(resource.RUSAGE_SELF)
                if r:
                    out[name].append([ms, (after.ru_minflt - before.ru_minflt) / n])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rounds": out, "peak_rss_mib": peak}))


def _median_range(xs: list[float], fmt: str) -> str:
    return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"


def parent(args: argparse.Namespace) -> str:
    results: dict[str, list[dict]] = {s: [] for s in SETTINGS}
    base = {k: v for k, v in os.environ.items() if k not in TUNED}
    cmd = [sys.executable, __file__, "--child", f"--k={args.k}", f"--batch={args.batch}"]
    cmd += [f"--rounds={args.rounds}", f"--steps={args.steps}"]
    cmd += [f"--data-root={args.data_root}"] if args.data_root else []
    for c in range(args.children):
        order = SETTINGS if c % 2 == 0 else SETTINGS[::-1]
        for setting in order:
            env = base if setting == SETTINGS[0] else {**base, **TUNED}
            res = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"child {c} ({setting}) failed:\n{res.stderr}")
            results[setting].append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(f"child {c} ({setting}) done", flush=True)
    rows = [
        "| allocator | contestant | ms per step | paired ratio to pyrogen default (time) "
        "| minor page faults per step |",
        "|---|---|---:|---:|---:|",
    ]
    for setting, runs in results.items():
        for name in NAMES:
            ms = [r[0] for run in runs for r in run["rounds"][name]]
            faults = [r[1] for run in runs for r in run["rounds"][name]]
            ratio = [
                r[0] / d[0]
                for run in runs
                for r, d in zip(run["rounds"][name], run["rounds"][DEFAULT])
            ]
            rows.append(
                f"| {setting} | {name} | {_median_range(ms, '.0f')} | "
                f"{_median_range(ratio, '.2f')} | {_median_range(faults, ',.0f')} |"
            )
    tuned = " ".join(f"{k}={v}" for k, v in TUNED.items())
    peaks = {s: [run["peak_rss_mib"] for run in runs] for s, runs in results.items()}
    peak_line = "; ".join(f"{s}: {_median_range(p, '.0f')} MiB" for s, p in peaks.items())
    text = (
        f"# Page faults of a K = {args.k} VAE step\n\n"
        f"`python benchmarks/page_faults.py {' '.join(args.argv)}`\n\n"
        f"ELBO, K = {args.k} vectorized particles, batch {args.batch}, VAE 784-400-20 (ReLU, "
        f"Bernoulli), fixed binarized MNIST, one torch thread; {args.children} child "
        f"processes per allocator setting (alternating; *tuned*: {tuned}), each "
        f"{args.rounds} interleaved rounds "
        f"of {args.steps} steps per contestant after a warm-up round; median (range) over "
        f"all rounds of all children. Peak resident memory of a child (all four contestants): "
        f"{peak_line}. Load average at the end {os.getloadavg()}.\n\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return text


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--children", type=int, default=4, help="child processes per setting")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--steps", type=int, default=8, help="timed steps per contestant per round")
parser.add_argument("--k", type=int, default=50)
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--data-root", default=None)
parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
parser.add_argument("--smoke", action="store_true", help="tiny run, nothing written")
parser.add_argument("--out", default="benchmarks/results/page_faults.md")

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    if ns.smoke:
        ns.children, ns.rounds, ns.steps, ns.k, ns.out = 1, 1, 1, 2, None
    child(ns) if ns.child else parent(ns)
