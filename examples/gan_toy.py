"""GAN on the 2-D Gaussian-mixture toys: mode collapse and mode coverage per loss.

Trains an MLP generator (z ~ N(0, I) -> x, a Pyro model) against an MLP critic on the ring of
8 Gaussians (Metz et al. 2017) or the 5x5 grid of 25 Gaussians, with any GAN loss, and
reports the modes covered and the fraction of high-quality samples (within 3 std of a mode)
on 2500 samples, as in the unrolled-GAN and VEEGAN papers::

    python examples/gan_toy.py --loss nonsaturating --dataset 8gaussians
    python examples/gan_toy.py --loss nonsaturating --unrolled-steps 5
    python examples/gan_toy.py --loss wgan-gp --dataset 25gaussians --out runs/toy
    python examples/gan_toy.py --smoke-test
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyro
import torch

from pyrogen.data import (
    eight_gaussians,
    eight_gaussians_centers,
    twenty_five_gaussians,
    twenty_five_gaussians_centers,
)
from pyrogen.infer import AdversarialSVI, resolve_device
from pyrogen.metrics import mode_coverage
from pyrogen.models import Discriminator, Generator
from pyrogen.objectives import GAN_KINDS, GANLoss

TOYS = {
    "8gaussians": (eight_gaussians, eight_gaussians_centers, 0.02),
    "25gaussians": (twenty_five_gaussians, twenty_five_gaussians_centers, 0.05),
}


def make_trainer(loss: str, lr: float, z_dim: int, hidden: list[int], unrolled: int = 0):
    """MLP generator and critic; Adam(lr, betas=(0.5, 0.9)) for both players (RMSProp for
    weight-clipped WGAN, as its paper advises), 5 critic steps per generator step for the
    Wasserstein losses."""
    generator = Generator((2,), z_dim=z_dim, hidden=hidden)
    critic = Discriminator((2,), hidden=hidden)
    if loss == "wasserstein":

        def opt(p):
            return torch.optim.RMSprop(p, lr=lr)
    else:

        def opt(p):
            return torch.optim.Adam(p, lr=lr, betas=(0.5, 0.9))

    n_critic = 5 if loss in ("wasserstein", "wgan-gp") else 1
    gan_loss = GANLoss(loss, unrolled_steps=unrolled)
    return AdversarialSVI(generator, critic, gan_loss, opt, opt, n_critic=n_critic)


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    sampler, centers_fn, std = TOYS[args.dataset]
    steps = 20 if args.smoke_test else args.steps
    trainer = make_trainer(args.loss, args.lr, args.z_dim, args.hidden, args.unrolled_steps)
    trainer.module.to(device)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    for step in range(steps):
        out = trainer.step(sampler(args.batch_size, generator=gen).to(device))
        if (step + 1) % max(1, steps // 10) == 0 and not args.smoke_test:
            print(f"step {step + 1}: " + ", ".join(f"{k} {float(v):.3f}" for k, v in out.items()))
    seconds = time.perf_counter() - t0
    samples = trainer.module.sample(2500).cpu()
    cov = mode_coverage(samples, centers_fn(), std)
    k = len(centers_fn())
    print(
        f"{args.loss}{' unrolled ' + str(args.unrolled_steps) if args.unrolled_steps else ''} "
        f"on {args.dataset}: {cov['modes']:.0f}/{k} modes, high-quality {cov['quality']:.3f}, "
        f"{steps} steps in {seconds:.0f} s"
    )
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(4, 4))
        c = centers_fn()
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5)
        ax.scatter(c[:, 0], c[:, 1], s=20, c="red", marker="x")
        ax.set_title(f"{args.loss}: {cov['modes']:.0f}/{k} modes")
        fig.savefig(out / f"samples_{args.loss}_{args.dataset}.png", dpi=100)
        plt.close(fig)
    return {"modes": float(cov["modes"]), "quality": float(cov["quality"]), "seconds": seconds}


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--loss", default="nonsaturating", choices=GAN_KINDS)
parser.add_argument("--dataset", default="8gaussians", choices=sorted(TOYS))
parser.add_argument("--steps", type=int, default=5000, help="critic steps")
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--z-dim", type=int, default=16)
parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
parser.add_argument("--unrolled-steps", type=int, default=0)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="directory for the sample plot")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
