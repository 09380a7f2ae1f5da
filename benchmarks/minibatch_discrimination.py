"""Minibatch discrimination against mode collapse on the 25-Gaussian grid, over several seeds.

Trains the same MLP GAN with and without a minibatch-discrimination layer on the critic's
features (Salimans et al. 2016, Sec. 3.2), at the same budget and seeds: generator z in R^16
-> 128 -> 128 -> 2 (ReLU), critic 2 -> 128 -> 128 features (ReLU) -> [minibatch statistics]
-> logit, Adam(1e-3, betas=(0.5, 0.9)) for both players as in ``benchmarks/gan_coverage.py``,
non-saturating loss, one critic step per generator step. Each run is evaluated on 2500
samples with :func:`pyrogen.metrics.mode_coverage` (modes covered, fraction of samples within
3 std of a mode). Writes ``benchmarks/results/minibatch_discrimination.md`` (mean +- standard
error over seeds and every seed's numbers) and a PNG of one seed's samples per setting::

    python benchmarks/minibatch_discrimination.py --steps 2000 --batch-size 128 --seeds 0 1 2
    python benchmarks/minibatch_discrimination.py --smoke
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import pyro
import torch
from matplotlib.figure import Figure

from pyrogen.data import twenty_five_gaussians, twenty_five_gaussians_centers
from pyrogen.infer import AdversarialSVI
from pyrogen.metrics import mode_coverage
from pyrogen.models import Discriminator, Generator
from pyrogen.objectives import GANLoss

STD = 0.05  # std of each grid mode (pyrogen.data.twenty_five_gaussians)


def make_trainer(args: argparse.Namespace, kernels: int) -> AdversarialSVI:
    """The GAN of the benchmark; ``kernels`` > 0 adds that many minibatch statistics."""
    generator = Generator((2,), z_dim=16, hidden=(128, 128))
    critic = Discriminator(
        (2,),
        hidden=(128, 128),
        minibatch_features=kernels,
        minibatch_kernel_dim=args.kernel_dim,
    )

    def opt(params):
        return torch.optim.Adam(params, lr=args.lr, betas=(0.5, 0.9))

    return AdversarialSVI(generator, critic, GANLoss(args.loss), opt, opt)


def run(args: argparse.Namespace, kernels: int, seed: int) -> dict:
    pyro.set_rng_seed(seed)
    trainer = make_trainer(args, kernels)
    gen = torch.Generator().manual_seed(seed)
    start = time.process_time()
    for _ in range(args.steps):
        trainer.step(twenty_five_gaussians(args.batch_size, generator=gen))
    cpu = time.process_time() - start
    trainer.module.eval()
    samples = trainer.module.sample(2500)
    cov = mode_coverage(samples, twenty_five_gaussians_centers(), STD)
    # Diversity apart from precision: any sample within half the grid spacing (1.0) of a mode
    # counts for it, so a spread-out generator reaches every mode and a collapsed one does not.
    reach = mode_coverage(samples, twenty_five_gaussians_centers(), STD, threshold=1.0 / STD)
    return {
        "modes": float(cov["modes"]),
        "reached": float(reach["modes"]),
        "quality": float(cov["quality"]),
        "kl": float(cov["kl"]),
        "cpu": cpu,
        "samples": samples,
    }


def mean_se(values: list[float]) -> str:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return f"{mean:.3g}"
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return f"{mean:.3g} ± {math.sqrt(var / n):.2g}"


def save_figure(results: dict[str, list[dict]], path: Path) -> None:
    centers = twenty_five_gaussians_centers()
    fig = Figure(figsize=(4 * len(results), 4))
    for i, (name, runs) in enumerate(results.items()):
        ax = fig.add_subplot(1, len(results), i + 1)
        r = runs[0]
        s = r["samples"]
        ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.4)
        ax.scatter(centers[:, 0], centers[:, 1], s=25, c="red", marker="x")
        ax.set_xlim(-6, 6)
        ax.set_ylim(-6, 6)
        ax.set_title(f"{name}\nseed {r['seed']}: {r['modes']:.0f}/25 modes", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    pyro.settings.set(module_local_params=True)
    if args.smoke:
        args.steps, args.seeds, args.batch_size = 20, [0], 32
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "no minibatch discrimination": 0,
        f"minibatch discrimination (B={args.kernels}, C={args.kernel_dim})": args.kernels,
    }
    results: dict[str, list[dict]] = {name: [] for name in settings}
    for seed in args.seeds:
        for name, kernels in settings.items():
            r = run(args, kernels, seed)
            r["seed"] = seed
            results[name].append(r)
            print(
                f"{name}, seed {seed}: {r['modes']:.0f}/25 modes, quality {r['quality']:.3f}, "
                f"KL {r['kl']:.3f}, reached {r['reached']:.0f}, {r['cpu']:.0f} CPU s",
                flush=True,
            )
    rows = []
    for name, runs in results.items():
        rows.append(
            f"| {name} | {mean_se([r['modes'] for r in runs])} "
            f"| {mean_se([r['quality'] for r in runs])} "
            f"| {mean_se([r['kl'] for r in runs])} "
            f"| {mean_se([r['reached'] for r in runs])} "
            f"| {' / '.join(format(r['modes'], '.0f') for r in runs)} "
            f"| {' / '.join(format(r['quality'], '.3f') for r in runs)} "
            f"| {sum(r['cpu'] for r in runs) / len(runs):.0f} |"
        )
    figure = out.with_name(out.stem + "_samples.png")
    save_figure(results, figure)
    command = "python benchmarks/minibatch_discrimination.py " + shlex.join(sys.argv[1:])
    text = (
        "# Minibatch discrimination on the 25-Gaussian grid\n\n"
        f"Command: `{command.strip()}`\n\n"
        f"Settings: {args.loss} loss, {args.steps} steps (one critic and one generator update "
        f"each), batch {args.batch_size}, Adam({args.lr}, betas=(0.5, 0.9)) for both players, "
        f"generator z in R^16 -> 128 -> 128 -> 2, critic 2 -> 128 -> 128 -> logit "
        f"(with the minibatch layer: 128 features + B statistics -> logit), seeds "
        f"{', '.join(map(str, args.seeds))}; one CPU thread. Evaluation: 2500 samples; "
        f"high quality = within 3 std ({3 * STD:.2f}) of the nearest mode; a mode is covered "
        f"when it holds at least 0.1 * 2500 / 25 = 10 high-quality samples; KL = KL of the "
        f"mode histogram of the high-quality samples from uniform (0 = balanced); modes "
        f"reached = modes with at least 10 samples within 1.0 (half the grid spacing), which "
        f"counts diversity whatever the precision. Mean ± "
        f"standard error over seeds, then each seed's value in seed order.\n\n"
        "| critic | modes covered (of 25) | high-quality fraction | mode KL | modes reached "
        "| modes per seed | quality per seed | CPU s / run |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        f"Samples of seed {args.seeds[0]}: `{figure.name}`.\n"
    )
    out.write_text(text)
    print(text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--loss", default="nonsaturating")
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--kernels", type=int, default=8, help="B, minibatch statistics")
parser.add_argument("--kernel-dim", type=int, default=4, help="C, size of each kernel row")
parser.add_argument("--out", default="benchmarks/results/minibatch_discrimination.md")
parser.add_argument("--smoke", action="store_true", help="a tiny run")

if __name__ == "__main__":
    main(parser.parse_args())
