"""Where the time of pyrogen's default VAE step goes: torch profiler, per op, per step.

The default ``SVITrainer`` step (hand-derived backward, fused Adam) of the VAE of
``svi_step.py`` (784-400-20, ReLU, Bernoulli, ELBO K = 1, batch 128, fixed binarized MNIST),
one thread, is run ``--steps`` times under :mod:`torch.profiler` after a warm-up, and every
operator is reported with its calls and self time per step, grouped by name and input
shapes. Summary lines add up the matrix products (``mm``/``addmm``; *small*: a dimension
<= 40, the latent size or both encoder heads), the Adam update, and everything else. With
``--compile`` the same for ``compile=True`` (Inductor's fused C++ kernels show as
``cpp_fused_*`` entries when ``TORCHINDUCTOR_CPP_ENABLE_KERNEL_PROFILE=1``, which this
script sets)::

    python benchmarks/step_profile.py --steps 200 --compile

Self times come from the profiler's wall clock, so on a shared machine they are inflated by
the share of the core the process did not get; the split between groups is the figure to
read, and the script also reports the profiler's own total beside the step's time unprofiled.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

os.environ.setdefault("TORCHINDUCTOR_CPP_ENABLE_KERNEL_PROFILE", "1")

import pyro  # noqa: E402
import torch  # noqa: E402
from svi_step import _elbo, _vae, pin_to_cores, write_report  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from pyrogen.data import load  # noqa: E402
from pyrogen.infer import SVITrainer  # noqa: E402

PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
SMALL = 40  # the latent size 20, or both encoder heads at once (2 x 20)


def _group(name: str, shapes: list) -> str:
    if name in PRODUCTS:
        small = any(0 < d <= SMALL for shape in shapes[:3] for d in shape)
        return f"matrix product, small (a dimension <= {SMALL})" if small else "matrix product"
    if "adam" in name.lower():
        return "Adam update"
    if name.startswith("cpp_fused") or "fused" in name:
        return "fused C++ kernel (compiled)"
    return "other ops"


def profile_step(trainer: SVITrainer, batches: list, steps: int, warmup: int) -> list[str]:
    for i in range(warmup):
        trainer.step(batches[i % len(batches)])
    t0 = time.perf_counter()
    for i in range(steps):
        trainer.step(batches[i % len(batches)])
    plain_ms = 1000 * (time.perf_counter() - t0) / steps
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for i in range(steps):
            trainer.step(batches[i % len(batches)])
    # Leaf ops only: an op's self time excludes the ops it calls, so the self times add up.
    rows, groups = [], defaultdict(lambda: [0.0, 0.0])
    for ev in prof.key_averages(group_by_input_shape=True):
        if ev.self_cpu_time_total <= 0:
            continue
        calls, us = ev.count / steps, ev.self_cpu_time_total / steps
        rows.append((us, calls, ev.key, str(ev.input_shapes)))
        g = groups[_group(ev.key, ev.input_shapes)]
        g[0] += calls
        g[1] += us
    rows.sort(reverse=True)
    total_us = sum(r[0] for r in rows)
    out = [
        f"Step time without the profiler: {plain_ms:.2f} ms (mean over {steps} steps); "
        f"profiled self time: {total_us / 1000:.2f} ms per step.",
        "",
        "| group | calls per step | ms per step | share |",
        "|---|---:|---:|---:|",
    ]
    for name, (calls, us) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        out.append(f"| {name} | {calls:.0f} | {us / 1000:.3f} | {100 * us / total_us:.0f}% |")
    out += ["", "| op | input shapes | calls per step | ms per step |", "|---|---|---:|---:|"]
    for us, calls, key, shapes in rows[:30]:
        out.append(f"| {key} | {shapes} | {calls:.0f} | {us / 1000:.3f} |")
    return out


def main(args: argparse.Namespace) -> str:
    pinned = pin_to_cores(1)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[:2560]
    batches = [x[i : i + 128] for i in range(0, len(x), 128)]
    text = [
        "# Profile of the default VAE step",
        "",
        f"`python benchmarks/step_profile.py {' '.join(args.argv)}`",
        "",
        f"VAE 784-400-20 (ReLU, Bernoulli), ELBO K = 1, batch 128, one torch thread, {pinned}; "
        f"torch {torch.__version__}; load average at the start {os.getloadavg()}. Self times "
        "are wall-clock time inside each op: on a shared machine read the shares.",
    ]
    kinds = [("default (hand-derived backward)", False)]
    kinds += [("compile=True", True)] if args.compile else []
    with pyro.validation_enabled(False):
        for label, compile in kinds:
            trainer = SVITrainer(_vae(), _elbo(1), lr=1e-3, compile=compile)
            text += ["", f"## {label}: path {trainer.path}", ""]
            text += profile_step(trainer, batches, args.steps, args.warmup)
            print("\n".join(text), flush=True)
    text += ["", f"Load average at the end {os.getloadavg()}.", ""]
    return write_report(args.out, "\n".join(text))


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--warmup", type=int, default=20)
parser.add_argument("--compile", action="store_true", help="also profile compile=True")
parser.add_argument("--data-root", default=None)
parser.add_argument("--smoke", action="store_true", help="a few steps, nothing written")
parser.add_argument("--out", default="benchmarks/results/step_profile.md")

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    if ns.smoke:
        ns.steps, ns.warmup, ns.out = 3, 2, None
    main(ns)
