"""Memory and time of a RevNet that rebuilds activations against ordinary backpropagation,
and the exact invertibility of an i-RevNet on MNIST.

Three networks of the same depth and width (convolutional residual functions on random
images; no batch normalization): a plain residual network ``x + H(x)``, a RevNet trained with
ordinary autograd, and the same RevNet with the memory-saving backward (Gomez et al., Alg. 1).
For each depth the script measures

- the bytes autograd saves for the backward pass (``saved_tensors_hooks``, parameters
  excluded, each storage counted once): exact, deterministic;
- the peak resident set size of one training step above the resident size before it, in a
  fresh process per network with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed so that freed
  tensors go back to the system (the process-level truth, including gradients and
  temporaries);
- the median wall time of a training step (forward, backward, SGD update);
- for the RevNet, the largest gradient difference of the two backward passes in float32.

Then an i-RevNet (``pyrogen.transforms.IRevNet``) maps MNIST test images to its
representation and back in float32 and float64. Writes
``benchmarks/results/reversible_memory.md`` and PNG figures next to it::

    python benchmarks/reversible_memory.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import nn

from pyrogen.data import load
from pyrogen.nn import ResidualNetwork, RevNet, saved_tensor_bytes
from pyrogen.plots import save_image_grid
from pyrogen.transforms import IRevNet

RESULTS = Path(__file__).parent / "results"
MODELS = ("ResNet", "RevNet, autograd", "RevNet, rebuilt")
MIB = 2**20


def build(name: str, depth: int, args: argparse.Namespace) -> nn.Module:
    torch.manual_seed(args.seed)
    if name == "ResNet":
        return ResidualNetwork(args.channels, depth, args.hidden)
    return RevNet(args.channels, depth, args.hidden, memory_saving=name == "RevNet, rebuilt")


def batch(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, args.channels, args.side, args.side)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def loss_fn(net: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (net(x) - target).square().mean()


def train_step(net: nn.Module, opt: torch.optim.Optimizer, x, target) -> None:
    opt.zero_grad(set_to_none=False)
    loss_fn(net, x, target).backward()
    opt.step()


def step_milliseconds(nets: dict[str, nn.Module], args: argparse.Namespace) -> dict[str, float]:
    """Median time of a training step per network; the networks take turns step by step, so
    a change of the machine's load affects them alike."""
    x, target = batch(args)
    opts = {name: torch.optim.SGD(net.parameters(), lr=1e-3) for name, net in nets.items()}
    times: dict[str, list[float]] = {name: [] for name in nets}
    for k in range(args.steps + 1):
        for name, net in nets.items():
            t0 = time.perf_counter()
            train_step(net, opts[name], x, target)
            if k > 0:  # the first step warms up
                times[name].append(1e3 * (time.perf_counter() - t0))
    return {name: statistics.median(t) for name, t in times.items()}


def grad_difference(
    depth: int, act: str, args: argparse.Namespace, dtype: torch.dtype = torch.float32
) -> float:
    """``max |g_rebuilt - g_autograd| / max |g_autograd|`` over all parameters."""
    x, target = (v.to(dtype) for v in batch(args))
    torch.manual_seed(args.seed)
    net = RevNet(args.channels, depth, args.hidden, act=act).to(dtype)
    grads = []
    for saving in (True, False):
        net.memory_saving = saving
        grads.append(torch.autograd.grad(loss_fn(net, x, target), list(net.parameters())))
    diff = max(float((a - b).abs().max()) for a, b in zip(*grads))
    return diff / max(float(b.abs().max()) for b in grads[1])


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_rss_part(args: argparse.Namespace) -> None:
    """In a fresh process: peak RSS of one training step above the RSS before it (MiB)."""
    torch.set_num_threads(args.threads)
    net = build(args.model, args.depth, args)
    x, target = batch(args)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    train_step(net, opt, x, target)  # gradients allocated, kernels initialized
    before = _status_kib("VmRSS")
    # Writing 5 resets the peak resident size (VmHWM) to the current one (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")
    train_step(net, opt, x, target)
    print(f"{(_status_kib('VmHWM') - before) / 1024:.2f}")


def peak_rss(name: str, depth: int, args: argparse.Namespace) -> float:
    cmd = [sys.executable, __file__, "--part", "rss", "--model", name, "--depth", str(depth)]
    for key in ("channels", "hidden", "batch", "side", "seed", "threads"):
        cmd += [f"--{key}", str(getattr(args, key))]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(64 * 1024)}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def memory_section(args: argparse.Namespace) -> tuple[list[str], dict]:
    x, target = batch(args)
    rows: dict[str, dict[int, dict[str, float]]] = {m: {} for m in MODELS}
    for depth in args.depths:
        nets = {name: build(name, depth, args) for name in MODELS}
        for name, net in nets.items():
            _, saved = saved_tensor_bytes(partial(loss_fn, net, x, target), net.parameters())
            rows[name][depth] = {
                "params": sum(p.numel() for p in net.parameters()),
                "saved": saved / MIB,
                "rss": peak_rss(name, depth, args),
            }
        for name, ms in step_milliseconds(nets, args).items():
            rows[name][depth]["ms"] = ms
        rebuilt = rows["RevNet, rebuilt"][depth]
        rebuilt["grad"] = grad_difference(depth, "relu", args)
        rebuilt["grad_tanh"] = grad_difference(depth, "tanh", args)
        print(f"depth {depth}: " + ", ".join(f"{m} {rows[m][depth]}" for m in MODELS))
    deepest = rows["RevNet, rebuilt"][max(args.depths)]
    deepest["grad64"] = grad_difference(max(args.depths), "relu", args, torch.float64)
    one = args.batch * args.channels * args.side**2 * 4 / MIB
    lines = [
        f"Convolutional residual functions (3x3 convolutions {args.channels // 2} -> "
        f"{args.hidden} -> {args.channels // 2} channels in each RevNet F and G, "
        f"{args.channels} -> {args.hidden} -> {args.channels} in each ResNet H), ReLU, no "
        f"batch normalization; batch {args.batch} of {args.channels} x {args.side} x "
        f"{args.side} random images (one such float32 tensor: {one:.2f} MiB); loss: mean "
        f"squared error to a random target; SGD. Step time: median of {args.steps} steps "
        "after one warm-up, the three networks taking turns. Gradient difference: the largest "
        "absolute difference of the rebuilding and the autograd gradients over the largest "
        "autograd gradient, all parameters, float32, for this ReLU network and for the same "
        "network with tanh.",
        "",
        "| depth | network | parameters | saved for backward (MiB) | peak RSS of a step "
        "(MiB) | step (ms) | time / ResNet | time / RevNet autograd | grad diff ReLU | "
        "grad diff tanh |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for depth in args.depths:
        base, rev = rows["ResNet"][depth]["ms"], rows["RevNet, autograd"][depth]["ms"]
        for name in MODELS:
            r = rows[name][depth]
            extra = "| | |"
            if name == "RevNet, rebuilt":
                extra = f"{r['ms'] / rev:.2f} | {r['grad']:.1e} | {r['grad_tanh']:.1e} |"
            lines.append(
                f"| {depth} | {name} | {r['params']:.0f} | {r['saved']:.2f} | {r['rss']:.1f} | "
                f"{r['ms']:.0f} | {r['ms'] / base:.2f} | {extra}"
            )
    return lines + ["", *reading(rows, args.depths)], rows


def _slope(rows: dict, name: str, key: str, depths: list[int]) -> float:
    """Growth per block between the shallowest and the deepest network."""
    lo, hi = min(depths), max(depths)
    return (rows[name][hi][key] - rows[name][lo][key]) / (hi - lo)


def reading(rows: dict, depths: list[int]) -> list[str]:
    """The table's numbers in words, computed from the table."""
    lo, hi = min(depths), max(depths)
    saved = {m: _slope(rows, m, "saved", depths) for m in MODELS}
    rss = {m: _slope(rows, m, "rss", depths) for m in MODELS}
    rebuilt = rows["RevNet, rebuilt"]
    vs_auto = [rebuilt[d]["ms"] / rows["RevNet, autograd"][d]["ms"] for d in depths]
    vs_res = [rebuilt[d]["ms"] / rows["ResNet"][d]["ms"] for d in depths]
    auto_res = [rows["RevNet, autograd"][d]["ms"] / rows["ResNet"][d]["ms"] for d in depths]
    relu = max(rebuilt[d]["grad"] for d in depths)
    tanh = max(rebuilt[d]["grad_tanh"] for d in depths)
    kink = (
        ": a ReLU unit whose pre-activation lies within the rounding error of 0 can flip in "
        "the rebuilt pass, which changes its gradient term outright, while tanh is smooth"
        if relu > 10 * tanh
        else ""
    )
    return [
        f"Reading: from depth {lo} to {hi}, the tensors saved for the backward pass grow by "
        f"{saved['ResNet']:.2f} MiB per block for the ResNet and {saved['RevNet, autograd']:.2f}"
        f" MiB per block for the RevNet under ordinary autograd, and by "
        f"{saved['RevNet, rebuilt']:.2f} MiB per block when the RevNet rebuilds its "
        f"activations (it keeps only its output and the loss's input: "
        f"{rebuilt[hi]['saved']:.2f} MiB at depth {hi}). The process's peak resident memory "
        f"during a step grows by {rss['ResNet']:.2f}, {rss['RevNet, autograd']:.2f} and "
        f"{rss['RevNet, rebuilt']:.2f} MiB per block (for the rebuilding RevNet this is the "
        "parameters' gradients, which its backward pass returns together at the end, not "
        "activations). The rebuilding backward takes "
        f"{min(vs_auto):.2f}-{max(vs_auto):.2f}x the step time of ordinary backpropagation "
        f"through the same RevNet (it runs every F and G forward once more), and "
        f"{min(vs_res):.2f}-{max(vs_res):.2f}x the ResNet's; the RevNet under autograd takes "
        f"{min(auto_res):.2f}-{max(auto_res):.2f}x the ResNet's with the same number of "
        "multiply-adds (four half-width convolutions per block against two full-width ones). "
        "Rebuilt activations carry rounding errors, so float32 gradients differ from "
        f"autograd's by at most {relu:.1e} of the largest gradient with ReLU and {tanh:.1e} "
        f"with tanh{kink}. In float64 they differ by {rebuilt[hi]['grad64']:.1e} (ReLU, depth "
        f"{hi}).",
    ]


def memory_figure(rows: dict, depths: list[int], path: Path) -> None:
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3)
    keys = [
        ("saved", "saved for backward (MiB)"),
        ("rss", "peak RSS of one step (MiB)"),
        ("ms", "time per step (ms)"),
    ]
    for ax, (key, label) in zip(axes, keys):
        for name in MODELS:
            ax.plot(depths, [rows[name][d][key] for d in depths], "o-", label=name)
        ax.set_xticks(depths)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("depth (blocks)")
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def tiles(y: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """``(N, D)`` representations of shape ``(c^2, h, w)`` as ``(N, 1, c h, c w)`` images of
    their channels side by side, each image scaled to [0, 1]."""
    k = int(shape[0] ** 0.5)
    _, h, w = shape
    img = y.reshape(-1, k, k, h, w).permute(0, 1, 3, 2, 4).reshape(-1, 1, k * h, k * w)
    lo = img.amin(dim=(1, 2, 3), keepdim=True)
    hi = img.amax(dim=(1, 2, 3), keepdim=True)
    return (img - lo) / (hi - lo)


def irevnet_section(args: argparse.Namespace) -> tuple[list[str], torch.Tensor]:
    x = load("mnist", "test", root=args.root, download=False).x[: args.mnist_images]
    lines = [
        f"i-RevNet (`IRevNet((1, 28, 28), depths={tuple(args.irevnet_depths)}, "
        f"hidden={args.irevnet_hidden})`, random initialization, seed {args.seed}) on the "
        f"first {len(x)} MNIST test images (pixels in [0, 1]).",
        "",
        "| dtype | max abs error | mean abs error | largest relative error (norm of x - x_hat "
        "over norm of x) | forward + inverse (s) |",
        "|---|---|---|---|---|",
    ]
    figure = x[:8]
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(args.seed)
        phi = IRevNet((1, 28, 28), args.irevnet_depths, args.irevnet_hidden).to(dtype)
        xd = x.to(dtype).flatten(1)
        t0 = time.perf_counter()
        with torch.no_grad():
            y = phi(xd)
            back = phi.inv(y)
        seconds = time.perf_counter() - t0
        err = (back - xd).abs()
        rel = float(((back - xd).norm(dim=1) / xd.norm(dim=1)).max())
        lines.append(
            f"| {str(dtype).removeprefix('torch.')} | {float(err.max()):.1e} | "
            f"{float(err.mean()):.1e} | {rel:.1e} | {seconds:.1f} |"
        )
        if dtype == torch.float32:
            recon = back[:8].reshape(-1, 1, 28, 28)
            scaled = (err[:8] * 1e7).clamp(0, 1).reshape(-1, 1, 28, 28)
            figure = torch.cat([x[:8], tiles(y[:8], phi.out_shape), recon.clamp(0, 1), scaled])
    lines += [
        "",
        f"Representation shape {phi.out_shape} = 784 numbers, log|det J| = 0 (volume preserving).",
    ]
    return lines, figure


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    mem_lines, rows = memory_section(args)
    memory_figure(rows, args.depths, stem.with_name(stem.name + "_depth.png"))
    irev_lines, images = irevnet_section(args)
    save_image_grid(
        images,
        stem.with_name(stem.name + "_irevnet_mnist.png"),
        nrow=8,
        title="MNIST test images, their i-RevNet representation, its inverse (float32), "
        "|error| x 1e7",
    )
    lines = [
        "# Reversible networks: activation memory, step time, invertibility",
        "",
        f"Command: `{' '.join(['python benchmarks/reversible_memory.py', *args.cmdline])}`",
        "",
        f"CPU, {args.threads} thread(s), seed {args.seed}, torch {torch.__version__}; load "
        f"average at the end {tuple(round(v, 1) for v in os.getloadavg())} (a shared "
        "machine: times are indicative, their ratios more than their values).",
        "",
        "## RevNet against ordinary backpropagation",
        "",
        *mem_lines,
        "",
        f"Figure: `{stem.name}_depth.png`.",
        "",
        "## i-RevNet: exact inversion of MNIST images",
        "",
        *irev_lines,
        "",
        f"Figure: `{stem.name}_irevnet_mnist.png` (rows: images; their representation, "
        "its channels tiled and scaled to [0, 1]; reconstructions; absolute "
        "error times 10^7, clipped at 1).",
    ]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8, 16, 32])
parser.add_argument("--channels", type=int, default=16)
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--side", type=int, default=16)
parser.add_argument("--steps", type=int, default=7, help="timed training steps")
parser.add_argument("--mnist-images", type=int, default=1000)
parser.add_argument("--irevnet-depths", type=int, nargs="+", default=[4, 4])
parser.add_argument("--irevnet-hidden", type=int, default=32)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--root", default=None, help="data root (default $PYROGEN_DATA)")
parser.add_argument("--smoke", action="store_true", help="a tiny run")
parser.add_argument("--out", default=str(RESULTS / "reversible_memory.md"))
parser.add_argument("--part", default="all", choices=["all", "rss"], help=argparse.SUPPRESS)
parser.add_argument("--model", default="ResNet", choices=MODELS, help=argparse.SUPPRESS)
parser.add_argument("--depth", type=int, default=2, help=argparse.SUPPRESS)

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.cmdline = sys.argv[1:]
    if ns.part == "rss":
        peak_rss_part(ns)
    else:
        if ns.smoke:
            ns.depths, ns.steps, ns.mnist_images, ns.irevnet_depths = [1, 2], 1, 16, [1, 1]
            ns.batch, ns.side = 4, 8
        main(ns)
