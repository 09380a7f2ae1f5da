"""The GPU half of ``benchmarks/gpu_check.sh``: absolute step times of ``SVITrainer`` on the
GPU, the fraction of the GPU's peak they reach, and the fixed-shape step under CUDA graphs.

Contestants, each one Adam step of the single-sample negative ELBO on binary 784-pixel
batches of 128 and 1024 (fixed random bits: timing needs no dataset):

* the built-in :class:`~pyrogen.models.VAE` 784-400-20 (ReLU, Bernoulli), whose step is the
  hand-derived one (``trainer.path == "hand-derived"``);
* the README's user VAE of ``benchmarks/user_vae_step.py`` (the general tracing-free path).

FLOPs per step are those of the matrix products of one forward and backward pass
(``svi_baselines.gemm_shapes``: 2 m k n each), so "% of peak" is a lower bound on the
utilisation: elementwise work and the optimizer are not counted. The peak is the GPU's dense
float32 (non-tensor-core) rate from a small table, or ``--peak-tflops``; the steps run in
float32 with TF32 off (PyTorch's default for matrix products).

``--dry-run`` (automatic without CUDA) runs the same code on the CPU at a tiny size, to show
that it works, and reports the CUDA part as not run::

    python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyro
import svi_baselines as nets
import torch
from user_vae_step import ReadmeVAE

from pyrogen.infer import SVITrainer
from pyrogen.models import VAE

NOT_RUN = "CUDA part: not run ({})"

# Dense float32 peak (TFLOP/s, without tensor cores) by a substring of the device name;
# vendors' data sheets (SXM parts where a PCIe part differs, unless named).
PEAK_FP32_TFLOPS = {
    "H200": 67.0,
    "H100 PCIe": 51.2,
    "H100": 67.0,
    "A100": 19.5,
    "A10G": 31.2,
    "A10": 31.2,
    "L40S": 91.6,
    "L4": 30.3,
    "V100": 15.7,
    "T4": 8.1,
    "RTX 4090": 82.6,
    "RTX 3090": 35.6,
}


def peak_tflops(name: str, given: float | None) -> tuple[float | None, str]:
    if given is not None:
        return given, "--peak-tflops"
    for key, value in PEAK_FP32_TFLOPS.items():  # the first match: specific names first
        if key.lower() in name.lower():
            return value, f"table entry {key!r}"
    return None, "unknown GPU: pass --peak-tflops"


def builtin_vae() -> VAE:
    return VAE((1, 28, 28), z_dim=nets.Z_DIM, hidden=(nets.HIDDEN,), act="relu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], object], device: torch.device, steps: int) -> float:
    """Seconds per call of ``step`` (after 3 warm-up calls), synchronized with the device."""
    for _ in range(3):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def step_flops(batch: int) -> float:
    return float(sum(2 * m * k * n for m, k, n in nets.gemm_shapes(batch, 1)))


def trainer_row(name, make, batch, device, steps, peak) -> str:
    torch.manual_seed(0)
    x = torch.rand(batch, 1, 28, 28, device=device).bernoulli()
    try:
        trainer = SVITrainer(make().to(device))
        seconds = time_steps(lambda: trainer.step(x), device, steps)
    except Exception as e:  # report the failure, as measured, instead of a number
        return f"| {name} | {batch} | failed: {type(e).__name__}: {str(e)[:160]} | | | | |"
    tflops = step_flops(batch) / seconds / 1e12
    share = f"{100 * tflops / peak:.2f}%" if peak else "n/a"
    return (
        f"| {name} | {batch} | {trainer.path} | {1 / seconds:.1f} | {1e3 * seconds:.3f} | "
        f"{tflops:.3f} | {share} |"
    )


def cuda_graph_rows(batch: int, device: torch.device, steps: int) -> list[str]:
    """The built-in VAE's hand-derived step captured whole (zero grads, loss and gradient,
    fused Adam) in a CUDA graph, and replayed; or why it could not be captured."""
    torch.manual_seed(0)
    x = torch.rand(batch, 1, 28, 28, device=device).bernoulli()
    trainer = SVITrainer(builtin_vae().to(device))
    eager = time_steps(lambda: trainer.step(x), device, steps)  # also the warm-up
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            trainer.step(x)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    before = [p.detach().clone() for p in trainer.params]
    try:
        with torch.cuda.graph(graph):
            out = trainer.step(x)
        graph.replay()
        _sync(device)
    except Exception as e:
        reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        return [f"| CUDA graph, batch {batch} | not capturable as is: {reason} | | |"]
    moved = any(not torch.equal(p, q) for p, q in zip(trainer.params, before))
    finite = bool(torch.isfinite(out["loss"]))
    replay = time_steps(graph.replay, device, steps)
    check = "parameters updated, loss finite" if moved and finite else "REPLAY DID NOT TRAIN"
    return [
        f"| eager step ({trainer.path}), batch {batch} | {1e3 * eager:.3f} | {1 / eager:.1f} | |",
        f"| CUDA graph replay, batch {batch} | {1e3 * replay:.3f} | {1 / replay:.1f} | "
        f"{eager / replay:.2f}x faster; {check} |",
    ]


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="tiny CPU run; no CUDA part")
    p.add_argument("--out", type=Path, help="markdown file for the results")
    p.add_argument("--peak-tflops", type=float, help="the GPU's peak float32 TFLOP/s")
    p.add_argument("--steps", type=int, default=200, help="timed steps per row")
    args = p.parse_args(argv)
    pyro.settings.set(module_local_params=True)
    cuda = torch.cuda.is_available() and not args.dry_run
    device = torch.device("cuda" if cuda else "cpu")
    batches, steps = ((128, 1024), args.steps) if cuda else ((8, 16), 3)
    lines = ["# GPU check", ""]
    if cuda:
        name = torch.cuda.get_device_name(device)
        peak, source = peak_tflops(name, args.peak_tflops)
        where = f"{name}, peak float32 {peak} TFLOP/s ({source})"
    else:
        peak, why = None, "--dry-run" if torch.cuda.is_available() else "no CUDA device"
        where = f"dry run on the CPU at tiny batches ({why}); times are not GPU times"
    lines += [
        f"{where}; torch {torch.__version__}, pyro {pyro.__version__}, "
        f"{platform.processor() or platform.machine()}. {steps} timed steps per row.",
        "",
        "| model | batch | path | steps/s | ms/step | GEMM TFLOP/s | % of peak |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    contestants = [("built-in VAE 784-400-20", builtin_vae)]
    contestants += [("README user VAE", ReadmeVAE)]
    with pyro.validation_enabled(False):
        for name, make in contestants:
            for b in batches:
                lines.append(trainer_row(name, make, b, device, steps, peak))
        lines += ["", "## CUDA graphs (built-in VAE, fixed-shape hand-derived step)", ""]
        if cuda:
            lines += ["| step | ms/step | steps/s | note |", "|---|---:|---:|---|"]
            for b in batches:
                lines += cuda_graph_rows(b, device, steps)
        else:
            lines.append(NOT_RUN.format(why))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return text


if __name__ == "__main__":  # run as a script: benchmarks/ is on sys.path for the imports
    main(sys.argv[1:])
