"""Throughput of pyrogen's MAF vs zuko's MAF: log_prob, log_prob + backward, and sampling.

Both flows have the same architecture: 3 masked affine autoregressive layers with MADE
conditioners of two hidden layers of 64 ReLU units (zuko's defaults), alternating
orderings, a standard normal base, on D-dimensional data. Timings are the best of
``--repeats`` interleaved runs of each case (the machine is shared, so the minimum is the
least disturbed estimate), with argument validation off in both libraries and
``torch.set_num_threads(--threads)``.

Run by hand (not in CI; needs ``pip install zuko``)::

    python -m benchmarks.flows --repeats 7

It writes ``benchmarks/results/flows.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

import pyro
import torch

from pyrogen.models import FlowDensity

SIZES = [(2, 1024), (8, 1024), (32, 256), (32, 4096)]  # (D, batch)


def best_time(fn: Callable[[], object], repeats: int, inner: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def cases(dim: int, batch: int):
    import zuko

    torch.manual_seed(0)
    ours = FlowDensity((dim,), flow="maf", num_layers=3, hidden=(64, 64))
    theirs = zuko.flows.MAF(dim, transforms=3, hidden_features=(64, 64))
    x = torch.randn(batch, dim)
    ours_dist, theirs_dist = ours.distribution, lambda: theirs()

    def log_prob(d):
        def run():
            with torch.no_grad():
                d().log_prob(x)

        return run

    def train(d, module):
        def run():
            module.zero_grad(set_to_none=True)
            d().log_prob(x).mean().neg().backward()

        return run

    def sample(d):
        def run():
            with torch.no_grad():
                d().sample((batch,))

        return run

    return {
        "log_prob": (log_prob(ours_dist), log_prob(theirs_dist)),
        "log_prob + backward": (train(ours_dist, ours), train(theirs_dist, theirs)),
        "sample": (sample(ours_dist), sample(theirs_dist)),
    }


def main(args: argparse.Namespace) -> None:
    import zuko

    torch.set_num_threads(args.threads)
    pyro.enable_validation(False)
    torch.distributions.Distribution.set_default_validate_args(False)
    rows = []
    for dim, batch in SIZES:
        for op, (ours, theirs) in cases(dim, batch).items():
            ours(), theirs()  # warm up
            t_ours, t_theirs = float("inf"), float("inf")
            for _ in range(args.repeats):  # interleaved so both see the same machine load
                t_ours = min(t_ours, best_time(ours, 1, args.inner))
                t_theirs = min(t_theirs, best_time(theirs, 1, args.inner))
            rows.append((dim, batch, op, batch / t_ours, batch / t_theirs, t_ours / t_theirs))
            print(rows[-1], flush=True)
    lines = [
        "# MAF throughput: pyrogen vs zuko",
        "",
        f"Command: `python -m benchmarks.flows --repeats {args.repeats} --inner {args.inner} "
        f"--threads {args.threads}`",
        "",
        f"Budget: best of {args.repeats} interleaved runs of {args.inner} calls per case; "
        f"{args.threads} CPU thread(s) of a shared machine ({platform.processor() or 'cpu'}), "
        f"torch {torch.__version__}, zuko {zuko.__version__}, validation off in both. "
        "Architecture: 3 MAF layers, MADE 64-64 ReLU, alternating orders. Throughput in "
        "examples/s (higher is better); ratio = pyrogen time / zuko time (below 1: pyrogen "
        "faster).",
        "",
        "| D | batch | operation | pyrogen (ex/s) | zuko (ex/s) | time ratio pyrogen/zuko |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for dim, batch, op, ours, theirs, ratio in rows:
        lines.append(f"| {dim} | {batch} | {op} | {ours:,.0f} | {theirs:,.0f} | {ratio:.2f} |")
    out = Path(__file__).parent / "results" / "flows.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    main(parser.parse_args())
