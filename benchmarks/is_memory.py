"""Peak memory and time of importance-sampled log p(x) (5000 samples) and of IWAE K = 50 steps.

``pyrogen.metrics.log_likelihood`` draws particles in chunks and combines them with a running
logsumexp, so its peak memory depends on ``chunk_size * batch_size``, not on the number of
samples or of test images. This script measures the peak resident set size of one process
evaluating the first ``--limit`` test images of fixed binarized MNIST (the IWAE paper's
1-layer VAE, 784-200-200-50, tanh) and extrapolates the time to all 10,000 images; the peak
RSS of the full run is the same, since images are processed ``batch_size`` at a time. It
also measures three IWAE K = 50 training steps at batch 128 (``SVITrainer`` with
``IWAE_ELBO(num_particles=50)``): the default hand-derived gradient, autograd, and autograd
with ``particle_chunk=10`` (activation checkpointing over particle chunks). Each line runs in
its own process::

    python benchmarks/is_memory.py --limit 100 --threads 2
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyro
import torch

from pyrogen.data import load
from pyrogen.infer import SVITrainer
from pyrogen.metrics import log_likelihood
from pyrogen.models import VAE
from pyrogen.objectives import IWAE_ELBO


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model() -> VAE:
    torch.manual_seed(0)
    return VAE((1, 28, 28), z_dim=50, hidden=(200, 200), act="tanh")


def part_is(args: argparse.Namespace, x: torch.Tensor) -> str:
    t0 = time.perf_counter()
    ll = log_likelihood(
        _model(),
        x[: args.limit],
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
    )
    seconds = time.perf_counter() - t0
    full = seconds * len(x) / args.limit
    return (
        f"IS log p(x), S = {args.num_samples}, batch {args.batch_size}, chunk "
        f"{args.chunk_size}, first {args.limit} test images: {seconds:.1f} s (extrapolated "
        f"to {len(x)} images at this load: {full / 60:.0f} min); mean log p(x) "
        f"{float(ll.mean()):.1f} (untrained model)"
    )


def part_iwae(args: argparse.Namespace, x: torch.Tensor, chunk: int | None, manual: bool) -> str:
    trainer = SVITrainer(
        _model(), IWAE_ELBO(num_particles=50), particle_chunk=chunk, manual_backward=manual
    )
    with pyro.validation_enabled(False):
        for _ in range(3):
            trainer.step(x[:128])
    backward = "hand-derived" if trainer.backward_reason is None else "autograd"
    return (
        f"3 IWAE K = 50 training steps, batch 128, particle_chunk {chunk}, SVITrainer path "
        f"{trainer.path} ({backward} gradient)"
    )


def main(args: argparse.Namespace) -> str:
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    if args.part == "all":
        lines = []
        for part in ("base", "is", "iwae", "iwae-autograd", "iwae-chunk"):
            cmd = [sys.executable, __file__, "--part", part, "--out", ""]
            cmd += [
                f"--{k.replace('_', '-')}={v}"
                for k, v in vars(args).items()
                if k not in ("part", "out") and v is not None
            ]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            lines.append(res.stdout.strip().splitlines()[-1])
        largest = args.chunk_size * args.batch_size * 784 * 4 / 2**20
        lines.append(f"for scale: one (chunk, batch, 784) float32 tensor is {largest:.0f} MiB")
        text = "\n".join(f"- {line}" for line in lines)
        print(text)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(
                "# Memory of IS evaluation and IWAE training\n\n`python benchmarks/is_memory.py "
                f"--limit {args.limit} --threads {args.threads}`: each line is a separate "
                f"process; peak RSS is the process's maximum resident set size (load average "
                f"at the end {os.getloadavg()}).\n\n{text}\n"
            )
        return text
    x = load("binarized_mnist", "test", root=args.data_root).x
    if args.part == "base":
        _model()
        what = "baseline: data and model loaded, nothing evaluated"
    elif args.part == "is":
        what = part_is(args, x)
    else:
        chunk = 10 if args.part == "iwae-chunk" else None
        what = part_iwae(args, x, chunk, manual=args.part == "iwae")
    line = f"{what}: peak RSS {peak_rss_mib():.0f} MiB"
    print(line)
    return line


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--limit", type=int, default=100)
parser.add_argument("--num-samples", type=int, default=5000)
parser.add_argument("--batch-size", type=int, default=100)
parser.add_argument("--chunk-size", type=int, default=500)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--data-root", default=None)
parser.add_argument("--out", default="benchmarks/results/is_memory.md")
parser.add_argument(
    "--part", default="all", choices=["all", "base", "is", "iwae", "iwae-autograd", "iwae-chunk"]
)

if __name__ == "__main__":
    main(parser.parse_args())
