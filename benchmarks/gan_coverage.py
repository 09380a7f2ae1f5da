"""Mode coverage of GAN losses on the 8-Gaussian ring and the 25-Gaussian grid.

For each loss, trains the MLP generator and critic of ``examples/gan_toy.py`` (z in R^16,
two hidden layers of 128 ReLU units each, Adam(1e-3, betas=(0.5, 0.9)) for both players,
RMSProp(5e-4) for clipped WGAN, 5 critic steps per generator step for the Wasserstein losses,
batch 256) for a fixed number of critic steps, draws 2500 samples and counts the modes
covered (at least a tenth of a mode's fair share of high-quality samples) and the fraction
of high-quality samples (within 3 std of the nearest mode), as in Srivastava et al. (2017).
Writes a markdown table::

    python benchmarks/gan_coverage.py --steps 1500 --seeds 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pyro
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from gan_toy import TOYS, make_trainer  # noqa: E402

from pyrogen.metrics import mode_coverage  # noqa: E402

CONFIGS = {
    "minimax": ("minimax", 0),
    "nonsaturating": ("nonsaturating", 0),
    "unrolled (K=5)": ("nonsaturating", 5),
    "wgan-gp": ("wgan-gp", 0),
    "wasserstein (clip)": ("wasserstein", 0),
    "hinge": ("hinge", 0),
    "ls": ("ls", 0),
    "f:js": ("f:js", 0),
    "f:reverse_kl": ("f:reverse_kl", 0),
}


def run(name: str, dataset: str, steps: int, seed: int) -> dict[str, float]:
    loss, unrolled = CONFIGS[name]
    pyro.set_rng_seed(seed)
    sampler, centers_fn, std = TOYS[dataset]
    lr = 5e-5 * 10 if loss == "wasserstein" else 1e-3
    trainer = make_trainer(loss, lr, 16, [128, 128], unrolled)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.process_time()
    for _ in range(steps):
        trainer.step(sampler(256, generator=gen))
    cpu = time.process_time() - t0
    cov = mode_coverage(trainer.module.sample(2500), centers_fn(), std)
    return {"modes": float(cov["modes"]), "quality": float(cov["quality"]), "cpu": cpu}


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    pyro.settings.set(module_local_params=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    header = (
        "| loss | dataset | modes covered | high-quality fraction | CPU s / run |\n"
        "| --- | --- | --- | --- | --- |\n"
    )
    for dataset in args.datasets:
        k = 8 if dataset == "8gaussians" else 25
        for name in args.configs:
            res = [run(name, dataset, args.steps, s) for s in args.seeds]
            modes = " / ".join(f"{r['modes']:.0f}" for r in res)
            quality = " / ".join(f"{r['quality']:.3f}" for r in res)
            cpu = sum(r["cpu"] for r in res) / len(res)
            rows.append(f"| {name} | {dataset} | {modes} (of {k}) | {quality} | {cpu:.0f} |")
            print(rows[-1], flush=True)
            text = (
                f"# GAN mode coverage on 2-D Gaussian mixtures\n\n"
                f"Command: `python benchmarks/gan_coverage.py --steps {args.steps} --seeds "
                f"{' '.join(map(str, args.seeds))} --datasets {' '.join(args.datasets)}`\n\n"
                f"Budget: {args.steps} critic steps per run (batch 256), one CPU thread; "
                f"2500 samples per evaluation; one entry per seed "
                f"({', '.join(map(str, args.seeds))}).\n\n" + header + "\n".join(rows) + "\n"
            )
            out.write_text(text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=1500)
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--datasets", nargs="+", default=["8gaussians", "25gaussians"])
parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
parser.add_argument("--out", default="benchmarks/results/gan_coverage.md")

if __name__ == "__main__":
    main(parser.parse_args())
