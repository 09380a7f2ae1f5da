"""Power-law scaling of MADE's test NLL on binarized MNIST with size and training compute.

A family of one-hidden-layer MADEs (``pyrogen.models.MADE``, a random pixel ordering per
seed, hidden sizes 16..512, about 30x in parameter count) is trained by maximum likelihood
for the same number of Adam steps (a fixed data budget), several seeds per size. The exact
test NLL (nats) on a fixed random subset of the test split is fitted against the parameter
count N by ``pyrogen.metrics.fit_power_law``, L = k N^alpha and L = k N^alpha + c, with t
and bootstrap (over seeds) intervals on alpha. Compute is estimated as C = 6 N images-seen,
the rule C ~ 6N per token of Kaplan et al. (2020) with one image as the token (one masked
pass touches every unmasked weight once; the backward pass costs about twice the forward).
With equal steps C is proportional to N, so the end-of-training fit against C has the
same exponent; the compute fit that says more uses the checkpoints along training: the
lowest NLL reached at each compute (the compute frontier over sizes), fitted against C.
Writes ``benchmarks/results/scaling_laws.md``, ``.json`` and ``.png``::

    python benchmarks/scaling_laws.py            # 6 sizes x 3 seeds x 1500 steps
    python benchmarks/scaling_laws.py --smoke    # a tiny run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pyrogen.data import load
from pyrogen.metrics import PowerLawFit, fit_power_law
from pyrogen.models import MADE

ROOT = Path(__file__).resolve().parent
# The settings saved with a run and restored by --from-json.
KEYS = ("hidden", "seeds", "steps", "batch_size", "lr", "eval_size", "n_train", "n_test", "command")


def effective_params(m: MADE) -> int:
    """Unmasked weights plus biases: the masked entries are constant zeros of the function."""
    return sum(int(layer.masks[0].sum()) + layer.bias.numel() for layer in m.layers)


@torch.no_grad()
def test_nll(m: MADE, x: torch.Tensor, batch: int = 500) -> float:
    m.eval()
    total = sum(float(-m.log_prob(x[i : i + batch]).sum()) for i in range(0, len(x), batch))
    m.train()
    return total / len(x)


def train_one(
    hidden: int, seed: int, args: argparse.Namespace, x: torch.Tensor, x_eval: torch.Tensor
) -> dict:
    torch.manual_seed(seed)
    m = MADE((1, 28, 28), hidden=(hidden,), order="random", seed=seed)
    # Output biases at the pixels' log-odds: every size starts from the independent-Bernoulli
    # fit instead of spending its first steps learning the marginals.
    p = x.reshape(len(x), -1).mean(0).clamp(1e-3, 1 - 1e-3)
    with torch.no_grad():
        m.layers[-1].bias.copy_(torch.logit(p))
    opt = torch.optim.Adam(m.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(seed)
    checkpoints = sorted({max(1, round(args.steps / 2**j)) for j in range(args.checkpoints)})
    curve, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        xb = x[torch.randint(len(x), (args.batch_size,), generator=g)]
        loss = -m.log_prob(xb).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in checkpoints:
            curve.append([step, test_nll(m, x_eval)])
    dense, sec = sum(p.numel() for p in m.parameters()), time.perf_counter() - start
    # curve: [step, test NLL] at the checkpoints
    return dict(
        hidden=hidden,
        seed=seed,
        params=effective_params(m),
        dense_params=dense,
        curve=curve,
        nll=curve[-1][1],
        seconds=sec,
    )


def data(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images and the evaluation subset (sets args.n_train and args.n_test)."""
    root = os.environ.get("PYROGEN_DATA", "/work/shared/data")
    x = load("binarized_mnist", "train", root=root, download=False).x
    x_test = load("binarized_mnist", "test", root=root, download=False).x
    args.n_train, args.n_test = len(x), len(x_test)
    # The test split is sorted by digit: evaluate on a random subset, never a prefix.
    idx = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(0))
    return x, x_test[idx[: args.eval_size]]


def run(args: argparse.Namespace) -> list[dict]:
    x, x_eval = data(args)
    runs = []
    for hidden in args.hidden:
        for seed in range(args.seeds):
            r = train_one(hidden, seed, args, x, x_eval)
            print(
                f"h={hidden} seed={seed} N={r['params']} NLL {r['nll']:.2f} ({r['seconds']:.0f} s)",
                flush=True,
            )
            runs.append(r)
    return runs


def summarize(runs: list[dict], args: argparse.Namespace) -> dict:
    """Per-size arrays, the fits against N and against C, and the compute frontier."""
    sizes = sorted({r["hidden"] for r in runs})
    by = {h: [r for r in runs if r["hidden"] == h] for h in sizes}
    n = np.array([by[h][0]["params"] for h in sizes], dtype=float)
    nll = np.array([[r["nll"] for r in by[h]] for h in sizes])  # (sizes, seeds)
    images = args.steps * args.batch_size
    c = 6.0 * n * images
    fits = {
        "N": fit_power_law(n, nll, n_boot=args.n_boot),
        "N_offset": fit_power_law(n, nll, offset=True, n_boot=args.n_boot),
        "C": fit_power_law(c, nll, n_boot=args.n_boot),
    }
    # Compute frontier: seed-mean checkpoints (C, L) that no point of at most ~the same
    # compute beats (within 5%, since the checkpoint grids of sizes 2x apart nearly coincide).
    pts = []
    for h, nn in zip(sizes, n):
        curves = np.array([r["curve"] for r in by[h]])  # (seeds, checkpoints, 2)
        for step, loss in zip(curves[0, :, 0], curves[:, :, 1].mean(0)):
            pts.append((6.0 * nn * step * args.batch_size, float(loss), h))
    pts.sort()
    frontier = [p for p in pts if not any(q[0] <= 1.05 * p[0] and q[1] < p[1] for q in pts)]
    if len(frontier) >= 3:
        fc = np.array([f[0] for f in frontier])
        fits["C_frontier"] = fit_power_law(fc, [f[1] for f in frontier], n_boot=args.n_boot)
    keys = ("sizes", "n", "nll", "c", "fits", "pts", "frontier")
    return dict(zip(keys, (sizes, n, nll, c, fits, pts, frontier)))


def _ci(f: PowerLawFit) -> str:
    """The t and bootstrap intervals on alpha as two table cells."""
    b = f.alpha_ci_boot
    boot = f"[{b[0]:.4f}, {b[1]:.4f}] ({f.bootstrap})" if b else "n/a"
    return f"[{f.alpha_ci[0]:.4f}, {f.alpha_ci[1]:.4f}] | {boot}"


def _log_axes(ax, y, xlabel: str, ylabel: str) -> None:
    """Log-log axes with a few plainly labelled NLL ticks (the range spans well under 10x)."""
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    ticks = np.geomspace(np.min(y), np.max(y), 5)
    ax.set_yticks(ticks, [f"{t:.4g}" for t in ticks])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def figure(s: dict, path: Path) -> None:
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    n, nll = s["n"], s["nll"]
    for j in range(nll.shape[1]):
        ax1.scatter(n, nll[:, j], s=12, color="0.6", label="one seed" if j == 0 else None)
    se = nll.std(1, ddof=1) / math.sqrt(nll.shape[1]) if nll.shape[1] > 1 else 0 * n
    ax1.errorbar(n, nll.mean(1), yerr=se, fmt="o", color="k", label="mean ± SE")
    grid = np.geomspace(n.min() / 1.3, n.max() * 1.3, 100)
    for key, style, name in (("N", "-", "k N^alpha"), ("N_offset", "--", "k N^alpha + c")):
        f = s["fits"][key]
        ax1.plot(grid, f.predict(grid), style, label=f"{name}: alpha = {f.alpha:.3f}")
    _log_axes(ax1, nll, "parameters N (unmasked)", "test NLL (nats)")
    ax1.set_title("NLL at a fixed number of steps")
    ax1.legend(fontsize=8)
    for h in s["sizes"]:
        p = [(c, loss) for c, loss, hh in s["pts"] if hh == h]
        ax2.plot(*zip(*p), "-o", ms=3, lw=1, label=f"h = {h}")
    fr = np.array([f[:2] for f in s["frontier"]])
    ax2.scatter(fr[:, 0], fr[:, 1], s=60, facecolors="none", edgecolors="k", label="frontier")
    if "C_frontier" in s["fits"]:
        f = s["fits"]["C_frontier"]
        gc = np.geomspace(fr[:, 0].min(), fr[:, 0].max(), 100)
        ax2.plot(gc, f.predict(gc), "k--", label=f"frontier fit: alpha = {f.alpha:.3f}")
    _log_axes(
        ax2,
        [p[1] for p in s["pts"]],
        "training compute C = 6 N images (FLOPs)",
        "test NLL (nats), mean over seeds",
    )
    ax2.set_title("NLL along training")
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(s: dict, runs: list[dict], args: argparse.Namespace, wall: float) -> str:
    n, nll, c, fits = s["n"], s["nll"], s["c"], s["fits"]
    seeds = nll.shape[1]
    mean = nll.mean(1)
    se = nll.std(1, ddof=1) / math.sqrt(seeds) if seeds > 1 else np.zeros_like(mean)
    local = np.diff(np.log(mean)) / np.diff(np.log(n))  # slope between neighbouring sizes
    dense = {r["hidden"]: r["dense_params"] for r in runs}
    lines = [
        "# Scaling of MADE's test NLL with size and compute (binarized MNIST)",
        "",
        "Command:",
        "",
        f"    python benchmarks/scaling_laws.py {args.command}".rstrip(),
        "",
        f"Models: one-hidden-layer MADE (`pyrogen.models.MADE`, ReLU, Bernoulli outputs), "
        f"hidden sizes {', '.join(map(str, s['sizes']))}, a random pixel ordering and random "
        f"hidden degrees drawn from the seed, output biases started at the training pixels' "
        f"log-odds. Training: maximum likelihood with Adam (lr {args.lr:g}, constant), "
        f"{args.steps} steps of batch {args.batch_size} drawn with replacement from the "
        f"{args.n_train:,} fixed-binarized training images "
        f"({args.steps * args.batch_size / args.n_train:.1f} epochs), "
        f"the same for every size; {seeds} seeds per size (seed = initialization, ordering and "
        f"batches). Test NLL: exact, in nats, on a fixed random {args.eval_size} of the "
        f"{args.n_test:,} test images (the split is sorted by digit, so never a prefix).",
        "",
        "N counts the unmasked weights and the biases (the masked entries are constant zeros; "
        "the dense tensors hold about twice as many numbers). Compute C = 6 N x images seen is "
        "an estimate (Kaplan et al.'s 6N per token, one image as the token), not a measured "
        "count; the dense masked matrix products actually execute about twice that. "
        f"One thread (torch.set_num_threads(1)) on a shared 2-core machine (load average "
        f"{args.load[0]:.1f} at the start, {args.load[1]:.1f} at the end); the whole run took "
        f"{wall / 60:.1f} min of wall time.",
        "",
        "| hidden | N (unmasked) | dense params | C (FLOPs) | test NLL mean ± SE | per seed "
        "| local exponent to the next size |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, h in enumerate(s["sizes"]):
        nxt = f"{local[i]:.3f}" if i < len(local) else ""
        per = ", ".join(f"{v:.2f}" for v in nll[i])
        lines.append(
            f"| {h} | {int(n[i]):,} | {dense[h]:,} | {c[i]:.2e} | {mean[i]:.2f} ± {se[i]:.2f} "
            f"| {per} | {nxt} |"
        )
    lines += [
        "",
        "Fits (`pyrogen.metrics.fit_power_law`, least squares in log space; every seed is one "
        f"observation; 95% intervals on alpha: t from the regression's standard error | "
        f"percentile bootstrap, {args.n_boot} resamples, over seeds within each size or over "
        "the points of the frontier). The offset law is fitted by nonlinear least squares in "
        "log space with c >= 0, started from a grid over c.",
        "",
        "| fit | points | alpha | 95% CI (t) | 95% CI (bootstrap) | k | c | residual sd (log) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {
        "N": "NLL = k N^alpha",
        "N_offset": "NLL = k N^alpha + c",
        "C": "NLL = k C^alpha (end of training)",
        "C_frontier": "frontier NLL = k C^alpha (checkpoints)",
    }
    for key, name in names.items():
        if key in fits:
            f = fits[key]
            lines.append(
                f"| {name} | {f.n_obs} | {f.alpha:.4f} | {_ci(f)} | {f.k:.4g} | {f.c:.2f} "
                f"| {f.sigma:.4f} |"
            )
    lines += ["", "![NLL against N and C](scaling_laws.png)", "", "## Reading", ""]
    lines += reading(s, local)
    return "\n".join(lines) + "\n"


def _bend(local: np.ndarray) -> str:
    """What the local exponents (smallest pair first) say about curvature on log-log axes."""
    first, last = abs(local[0]), abs(local[-1])
    if last < 0.67 * first:
        return (
            "They shrink in magnitude with size: the law bends (flattens) on log-log axes, "
            "toward a floor or because the larger models are further from convergence after "
            "the same steps (this run cannot tell which), and one exponent, a weighted "
            "average of these, summarizes it poorly."
        )
    if last > 1.5 * first:
        return (
            "They grow in magnitude with size: the curve steepens on log-log axes (the "
            "small models gain little from width in these steps), so one exponent, a "
            "weighted average of these, summarizes it poorly."
        )
    return (
        "The smallest and largest pairs agree within a factor 1.5: no strong bend at this "
        "resolution."
    )


def reading(s: dict, local: np.ndarray) -> list[str]:
    fits, nll, n = s["fits"], s["nll"], s["n"]
    f, fo, fc = fits["N"], fits["N_offset"], fits["C"]
    seed_sd = float(np.log(nll).std(1, ddof=1).mean()) if nll.shape[1] > 1 else math.nan

    def ci(fit: PowerLawFit) -> str:
        b = fit.alpha_ci_boot
        boot = f", bootstrap [{b[0]:.3f}, {b[1]:.3f}]" if b else ""
        return f"t [{fit.alpha_ci[0]:.3f}, {fit.alpha_ci[1]:.3f}]{boot}"

    out = [
        f"- Over a {n.max() / n.min():.0f}x range of N the plain law gives alpha = "
        f"{f.alpha:.3f} ({ci(f)}): doubling N multiplies the NLL by {2**f.alpha:.3f}.",
        "- The local exponents between neighbouring sizes run "
        + " -> ".join(f"{v:.3f}" for v in local)
        + ". "
        + _bend(local),
        f"- Residual sd in log space: {f.sigma:.4f} for the plain law, {fo.sigma:.4f} with the "
        f"offset, against a seed-to-seed sd of {seed_sd:.4f} within a size. "
        + (
            "The straight line misses the size means by more than seed noise, so the "
            "bootstrap over seeds measures how much the slope moves with the seeds, not how "
            "well a power law describes the points; the t interval is widened by the misfit "
            "but still treats a systematic bend as noise. Neither covers the dependence of "
            "alpha on the range of sizes fitted."
            if f.sigma > 1.5 * seed_sd
            else "The straight line fits the size means about as well as seed noise allows."
        ),
        f"- With an irreducible term: c = {fo.c:.1f} nats, alpha = {fo.alpha:.3f} ({ci(fo)}). "
        f"With {len(n)} sizes c and alpha trade off against each other, and c is a property "
        "of this training budget (the NLL that width alone would not remove after these "
        "steps), not an estimate of the data's entropy."
        + (" Here c sits on its bound 0: the points show no floor." if fo.c <= 1e-9 else ""),
        f"- Against compute at the end of training alpha = {fc.alpha:.4f}, the same as "
        f"against N ({f.alpha:.4f}): every size had the same steps, so C is N times a "
        "constant and this fit adds nothing.",
    ]
    if "C_frontier" in fits:
        ff = fits["C_frontier"]
        sizes = ", ".join(map(str, dict.fromkeys(h for _, _, h in s["frontier"])))
        out.append(
            f"- The compute frontier (the lowest seed-mean NLL at each compute among all "
            f"checkpoints; {ff.n_obs} points, from hidden sizes {sizes}) gives alpha = "
            f"{ff.alpha:.3f} ({ci(ff)}). Constant learning rate, so every checkpoint is a fair "
            "stopping point; but successive checkpoints of one run are not independent "
            "points, so these intervals are too narrow."
        )
    out.append(
        "- Caveats: a CPU budget, one architecture family, few sizes, a fixed number of "
        "steps and one learning rate for every size; the largest models are furthest from "
        "convergence, so the exponent mixes capacity with optimization speed. Kaplan et al. "
        "fit L(N) for language models trained close to convergence; their exponents are not "
        "comparable to these (other data, other units). Read alpha as a rough figure for "
        "this setting, not as a law of MADE."
    )
    return out


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    if args.smoke:
        args.hidden, args.seeds, args.steps, args.eval_size = [8, 16, 32, 64], 2, 16, 200
        args.n_boot = 100
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        raw = json.loads(Path(args.from_json).read_text())
        runs, wall, args.load = raw["runs"], raw["wall"], raw["load"]
        for key in KEYS:
            setattr(args, key, raw["args"].get(key))
        if args.n_train is None:  # saved before the sizes were
            data(args)
    else:
        load0, start = os.getloadavg()[0], time.time()
        runs = run(args)
        wall, args.load = time.time() - start, (load0, os.getloadavg()[0])
        raw = dict(args={k: getattr(args, k) for k in KEYS}, runs=runs, wall=wall, load=args.load)
        out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    s = summarize(runs, args)
    figure(s, out.with_suffix(".png"))
    text = report(s, runs, args, wall)
    out.write_text(text)
    print(text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--hidden", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
parser.add_argument("--seeds", type=int, default=3, help="seeds per size")
parser.add_argument("--steps", type=int, default=1500, help="Adam steps for every size")
parser.add_argument("--batch-size", type=int, default=100)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--eval-size", type=int, default=2000, help="random test images")
parser.add_argument("--checkpoints", type=int, default=5, help="steps, steps/2, ... evaluated")
parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
parser.add_argument("--smoke", action="store_true", help="a tiny run")
parser.add_argument("--from-json", default="", help="rewrite the report from a saved run")
parser.add_argument("--out", default=str(ROOT / "results" / "scaling_laws.md"))

if __name__ == "__main__":
    a = parser.parse_args()
    a.command = " ".join(sys.argv[1:])
    main(a)
