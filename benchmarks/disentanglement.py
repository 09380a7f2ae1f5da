"""beta-VAE disentanglement metric on procedural sprites: VAE vs beta-VAE vs FactorVAE.

Every model gets the same architecture, optimizer, number of VAE updates and images per VAE
update; FactorVAE draws a second half-batch of the same size for its discriminator, as in
Kim & Mnih (2018, Algorithm 1). Writes ``benchmarks/results/disentanglement.md`` and a
latent-traversal figure.

    python benchmarks/disentanglement.py --steps 3000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyro
import torch

from pyrogen.data import Sprites, load_sprites
from pyrogen.infer import FactorVAETrainer, SVITrainer
from pyrogen.metrics import beta_vae_score
from pyrogen.models import VAE, FactorVAE
from pyrogen.objectives import BetaELBO

RESULTS = Path(__file__).parent / "results"


def make(kind: str, args: argparse.Namespace):
    common = dict(
        x_shape=(1, args.size, args.size),
        z_dim=args.z_dim,
        hidden=tuple(args.hidden),
        arch=args.arch,
        act="relu",
    )
    if kind == "factor":
        m = FactorVAE(**common, disc_hidden=(256, 256, 256))
        return FactorVAETrainer(m, gamma=args.gamma, lr=args.lr, lr_disc=args.lr_disc)
    beta = 1.0 if kind == "vae" else args.beta
    return SVITrainer(VAE(**common), BetaELBO(beta=beta), lr=args.lr)


@torch.no_grad()
def kl_per_dim(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    """Average KL(q(z_j|x) || N(0, 1)) per latent dimension: which units are in use."""
    loc, scale = vae.encode(x)
    return (0.5 * (loc**2 + scale**2 - 1) - scale.log()).mean(0)


@torch.no_grad()
def traversal(vae: VAE, x0: torch.Tensor, dims: torch.Tensor, steps: int = 7) -> torch.Tensor:
    """Rows: one latent dimension each, swept over [-2.5, 2.5] from the code of ``x0``."""
    loc, _ = vae.encode(x0[None])
    values = torch.linspace(-2.5, 2.5, steps)
    z = loc.repeat(len(dims), steps, 1)  # (rows, steps, z_dim)
    for r, d in enumerate(dims):
        z[r, :, d] = values
    return torch.sigmoid(vae.decode(z))[:, :, 0]  # (rows, steps, H, W)


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    sprites = Sprites(size=args.size)
    x, _ = load_sprites(args.num_data, sprites=sprites, seed=1234)
    x_test, _ = load_sprites(2000, sprites=sprites, seed=4321)
    names = {
        "vae": "VAE (beta = 1)",
        "beta": f"beta-VAE (beta = {args.beta:g})",
        "factor": f"FactorVAE (gamma = {args.gamma:g})",
    }
    rows, figs = [], {}
    for seed in args.seeds:
        for kind in ("vae", "beta", "factor"):
            pyro.set_rng_seed(seed)
            trainer = make(kind, args)
            vae = trainer.module
            batch = 2 * args.batch if kind == "factor" else args.batch
            gen = torch.Generator().manual_seed(seed)
            start = time.time()
            last: dict[str, torch.Tensor] = {}
            for _ in range(args.steps):
                last = trainer.step(x[torch.randint(len(x), (batch,), generator=gen)])
            seconds = time.time() - start
            vae.eval()
            pyro.set_rng_seed(seed)
            elbo = -BetaELBO().loss(vae.model, vae.guide, x_test) / len(x_test)
            kl = kl_per_dim(vae, x_test)
            score = beta_vae_score(
                lambda im, v=vae: v.encode(im)[0],
                sprites,
                num_train=args.metric_train,
                num_test=args.metric_test,
                seed=100 + seed,
            )
            rows.append(
                (
                    names[kind],
                    seed,
                    score["accuracy"],
                    elbo,
                    float(kl.sum()),
                    int((kl > 0.1).sum()),
                    float(last.get("tc", float("nan"))),
                    seconds,
                )
            )
            print(rows[-1], flush=True)
            if seed == args.seeds[0]:
                dims = kl.argsort(descending=True)[: min(6, args.z_dim)]
                figs[names[kind]] = traversal(vae, x_test[0], dims)
    write(rows, figs, args)


def write(rows, figs, args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# beta-VAE disentanglement metric on procedural sprites",
        "",
        f"Command: `python benchmarks/disentanglement.py {args.cmdline}`",
        "",
        f"Budget per model: {args.steps} VAE updates of {args.batch} images (Adam, lr "
        f"{args.lr:g}); FactorVAE draws a second batch of {args.batch} for its discriminator "
        f"(Adam lr {args.lr_disc:g}, betas (0.5, 0.9)). Architecture `{args.arch}` "
        f"hidden {tuple(args.hidden)}, z_dim {args.z_dim}, Bernoulli decoder; sprites "
        f"{args.size}x{args.size}, {args.num_data} training images. Metric: Higgins et al. "
        f"(2017), L = 64 pairs per point, {args.metric_train} training / {args.metric_test} "
        f"held-out points, linear logistic classifier, chance 0.2. CPU, "
        f"{args.threads} thread(s).",
        "",
        "| model | seed | metric accuracy | test ELBO (nats) | KL (nats) | units KL>0.1 "
        "| last TC estimate | train time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, seed, acc, elbo, kl, units, tc, secs in rows:
        lines.append(
            f"| {name} | {seed} | {acc:.3f} | {elbo:.1f} | {kl:.1f} | {units} "
            f"| {tc:.3f} | {secs:.0f} |"
        )
    lines += ["", "| model | mean accuracy | min | max |", "|---|---|---|---|"]
    for name in dict.fromkeys(r[0] for r in rows):
        accs = torch.tensor([r[2] for r in rows if r[0] == name])
        lines.append(f"| {name} | {accs.mean():.3f} | {accs.min():.3f} | {accs.max():.3f} |")
    (RESULTS / "disentanglement.md").write_text("\n".join(lines) + "\n")
    if figs:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(figs), figsize=(4 * len(figs), 4))
        for ax, (name, grid) in zip(axes, figs.items()):
            r, s, h, w = grid.shape
            ax.imshow(grid.permute(0, 2, 1, 3).reshape(r * h, s * w), cmap="gray")
            ax.set_title(name + "\n(rows: latents by KL)", fontsize=9)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(RESULTS / "disentanglement_traversals.png", dpi=80)


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arch", default="conv", choices=["mlp", "conv"])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256])
    parser.add_argument("--z-dim", type=int, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--num-data", type=int, default=20_000)
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--gamma", type=float, default=10.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-disc", type=float, default=1e-4)
    parser.add_argument("--metric-train", type=int, default=800)
    parser.add_argument("--metric-test", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    ns = parser.parse_args()
    ns.cmdline = " ".join(sys.argv[1:])
    main(ns)
