"""Undercomplete, denoising and contractive autoencoders on MNIST, and the denoising
autoencoder as a generative model on a 2-D Gaussian mixture.

MNIST: the three autoencoders share one architecture (a single sigmoid code layer and a
linear-sigmoid decoder, cross-entropy loss, as in Vincent et al. 2008 and Rifai et al. 2011)
and budget; the table gives test reconstruction, denoising of masked test images, and the
encoder's Jacobian norm (what the contractive penalty shrinks). 2-D: a small DAE with
Gaussian corruption; r(x) - x against sigma^2 times the true score (Alain & Bengio 2014), and
the corruption/reconstruction chain (Bengio et al. 2013) against two wrong chains. Writes
``benchmarks/results/autoencoders.md`` and PNG figures next to it.

    python benchmarks/autoencoders.py --steps 3000 --lr 0.01
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.distributions as td
from matplotlib.figure import Figure

from pyrogen.data import load
from pyrogen.infer import AutoencoderTrainer
from pyrogen.metrics import mmd
from pyrogen.models import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    jacobian_frobenius,
)
from pyrogen.plots import save_image_grid

RESULTS = Path(__file__).parent / "results"
CENTERS = 1.2 * torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
WEIGHTS = torch.tensor([0.4, 0.3, 0.2, 0.1])
STD = 0.5


def mixture() -> td.MixtureSameFamily:
    comps = td.Independent(td.Normal(CENTERS, STD), 1)
    return td.MixtureSameFamily(td.Categorical(WEIGHTS), comps)


def nearest(z: torch.Tensor) -> tuple[torch.Tensor, float]:
    d, k = torch.cdist(z, CENTERS).min(dim=1)
    return torch.bincount(k, minlength=4).float() / len(z), float(d.pow(2).mean())


def train_toy_dae(args: argparse.Namespace) -> tuple[DenoisingAutoencoder, float]:
    torch.manual_seed(args.seed)
    dae = DenoisingAutoencoder(
        2, 64, hidden=(64,), act="tanh", code_act="tanh", noise_level=args.toy_sigma
    )
    optim = torch.optim.Adam(dae.parameters(), lr=1e-2)
    trainer = AutoencoderTrainer(dae, optim=optim)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, args.toy_steps)
    start = time.process_time()
    for _ in range(args.toy_steps):
        trainer.step(mixture().sample((256,)))
        schedule.step()
    return dae.eval(), time.process_time() - start


def run_chain(dae: DenoisingAutoencoder, kind: str, z: torch.Tensor, steps: int) -> torch.Tensor:
    if kind == "DAE chain":
        return dae.sample_chain(z, steps)
    with torch.no_grad():
        for _ in range(steps):
            z_tilde = dae.corrupt(z)
            z = z_tilde if kind == "corruption only" else dae(z_tilde)
    return z


def toy(args: argparse.Namespace) -> tuple[list[str], dict]:
    dae, cpu = train_toy_dae(args)
    sigma = args.toy_sigma
    torch.manual_seed(args.seed + 1)
    x = mixture().sample((2000,)).requires_grad_(True)
    (score,) = torch.autograd.grad(mixture().log_prob(x).sum(), x)
    x = x.detach()
    with torch.no_grad():
        d, target = dae(x) - x, sigma**2 * score
    cos = float((d * target).sum() / (d.norm() * target.norm()))
    rel = float((d - target).norm() / target.norm())
    data = mixture().sample((2000,))
    _, data_msd = nearest(data)
    start = 6 * torch.rand(2000, 2) - 3
    chains = {
        k: run_chain(dae, k, start, args.chain_steps)
        for k in ("DAE chain", "mean reconstruction", "corruption only")
    }
    null = float(mmd(mixture().sample((2000,)), data, bandwidth=STD))
    lines = [
        f"DAE on the 2-D mixture: {args.toy_steps} Adam steps of 256 fresh draws "
        f"({cpu:.0f} s CPU), Gaussian corruption sigma = {sigma:g} (component std {STD:g}).",
        "",
        f"Score reading at 2000 data points: cosine between r(x) - x and sigma^2 grad log p(x) "
        f"= {cos:.3f}, relative error ||r(x) - x - sigma^2 grad log p|| / ||sigma^2 grad "
        f"log p|| = {rel:.3f} (part of it is the smoothing bias: r* is sigma^2 times the score "
        f"of p convolved with N(0, sigma^2)).",
        "",
        f"Chains: 2000 chains from uniform on [-3, 3]^2, {args.chain_steps} steps.",
        "",
        "| sampler | mode weights (true 0.40 / 0.30 / 0.20 / 0.10) | mean sq. distance to "
        "nearest mode / data's | MMD^2 to data (bandwidth 0.5) |",
        "|---|---|---|---|",
    ]
    for kind, z in chains.items():
        props, msd = nearest(z)
        weights = " / ".join(f"{p:.2f}" for p in props.tolist())
        lines.append(
            f"| {kind} | {weights} | {msd / data_msd:.2f} | "
            f"{float(mmd(z, data, bandwidth=STD)):.4f} |"
        )
    lines.append(f"| (fresh data, for scale) | | 1.00 | {null:.4f} |")
    return lines, {"dae": dae, "data": data, "chains": chains}


def toy_figure(parts: dict, path: Path) -> None:
    dae, data, chains = parts["dae"], parts["data"], parts["chains"]
    fig = Figure(figsize=(16, 4))
    axes = fig.subplots(1, 4)
    g = torch.linspace(-2.8, 2.8, 15)
    grid = torch.cartesian_prod(g, g).requires_grad_(True)
    (score,) = torch.autograd.grad(mixture().log_prob(grid).sum(), grid)
    grid = grid.detach()
    with torch.no_grad():
        field = dae(grid) - grid
    true = dae.noise_level**2 * score
    panels = [
        (data, "data (2000 draws)"),
        (None, "r(x) - x (blue), sigma^2 grad log p (red), both x2"),
        (chains["DAE chain"], "DAE chain samples"),
        (chains["mean reconstruction"], "wrong: reconstruct to the mean"),
    ]
    for ax, (z, title) in zip(axes, panels):
        if z is None:
            ax.quiver(
                grid[:, 0],
                grid[:, 1],
                true[:, 0],
                true[:, 1],
                color="red",
                angles="xy",
                scale_units="xy",
                scale=0.5,
                width=0.004,
            )
            ax.quiver(
                grid[:, 0],
                grid[:, 1],
                field[:, 0],
                field[:, 1],
                color="blue",
                angles="xy",
                scale_units="xy",
                scale=0.5,
                width=0.004,
                alpha=0.7,
            )
        else:
            ax.scatter(z[:, 0], z[:, 1], s=2, alpha=0.4)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def mnist_models(args: argparse.Namespace) -> dict[str, Callable[[], Autoencoder]]:
    """Builders of the compared models; built after the same seed, they start from the same
    weights (the same layers are created in the same order)."""
    common = {"x_shape": (1, 28, 28), "code_dim": args.code_dim, "loss": "bce"}
    models: dict[str, Callable[[], Autoencoder]] = {
        "undercomplete AE": lambda: Autoencoder(**common),
        f"DAE (masking {args.mask:g})": lambda: DenoisingAutoencoder(
            **common, noise="masking", noise_level=args.mask
        ),
    }
    for w in args.cae_weights:
        models[f"CAE (lambda {w:g})"] = partial(ContractiveAutoencoder, **common, weight=w)
    return models


@torch.no_grad()
def evaluate(model: Autoencoder, x: torch.Tensor, masked: torch.Tensor) -> dict[str, float]:
    model.eval()
    recon = torch.cat([model.reconstruction_error(c) for c in x.split(1000)])
    rec = torch.cat([model(c) for c in x.split(1000)])
    den = torch.cat([model(c) for c in masked.split(1000)])
    jac = torch.cat([jacobian_frobenius(model.encoder, c.flatten(1)) for c in x.split(500)])
    return {
        "recon": float(recon.mean()),
        "mse": float((rec - x).pow(2).mean()),
        "denoise": float((den - x).pow(2).mean()),
        "jac": float(jac.mean()),
    }


def mnist(args: argparse.Namespace) -> tuple[list[str], dict]:
    x, _ = load("mnist", "train", root=args.root)
    test, _ = load("mnist", "test", root=args.root)
    test = test[torch.randperm(len(test), generator=torch.Generator().manual_seed(0))]
    test = test[: args.num_test]
    hit = torch.rand(test.shape, generator=torch.Generator().manual_seed(1)) < args.mask
    masked = test.masked_fill(hit, 0.0)
    rows, recs = [], {}
    for name, build in mnist_models(args).items():
        torch.manual_seed(args.seed)
        model = build()
        trainer = AutoencoderTrainer(model, lr=args.lr)
        gen = torch.Generator().manual_seed(args.seed)
        start = time.process_time()
        for _ in range(args.steps):
            trainer.step(x[torch.randint(len(x), (args.batch,), generator=gen)])
        cpu = time.process_time() - start
        stats = evaluate(model, test, masked)
        rows.append((name, stats, cpu))
        with torch.no_grad():
            recs[name] = model(masked[:8])
        print(name, stats, f"{cpu:.0f}s", flush=True)
    lines = [
        f"MNIST (grey levels): {args.steps} Adam steps (lr {args.lr:g}) of {args.batch} "
        f"training images per model; encoder h = sigmoid(W x + b) with {args.code_dim} units, "
        "decoder sigmoid(W' h + c), cross-entropy loss; the same initial weights for all. "
        f"Test: {args.num_test} random test images; masked = {args.mask:g} of the pixels "
        "set to 0 (the DAE's training corruption).",
        "",
        "| model | test recon. cross-entropy (nats/image) | test MSE / pixel | denoising MSE / "
        "pixel (masked input) | encoder Jacobian ‖J_f(x)‖²_F (test mean) | CPU time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s, cpu in rows:
        lines.append(
            f"| {name} | {s['recon']:.1f} | {s['mse']:.4f} | {s['denoise']:.4f} | "
            f"{s['jac']:.2f} | {cpu:.0f} |"
        )
    return lines, {"masked": masked[:8], "test": test[:8], "recs": recs}


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    toy_lines, toy_parts = toy(args)
    toy_figure(toy_parts, RESULTS / "autoencoders_chain_2d.png")
    mnist_lines, parts = mnist(args)
    images = [parts["test"], parts["masked"], *parts["recs"].values()]
    save_image_grid(
        torch.cat(images),
        RESULTS / "autoencoders_mnist.png",
        nrow=8,
        title="rows: test images, masked, then the reconstructions of the masked input",
    )
    lines = [
        "# Autoencoders: undercomplete, denoising, contractive",
        "",
        f"Command: `python benchmarks/autoencoders.py {args.cmdline}`",
        "",
        f"CPU, {args.threads} thread(s), seed {args.seed}.",
        "",
        "## MNIST",
        "",
        *mnist_lines,
        "",
        "Figure: `autoencoders_mnist.png`: test images, the same masked, then each model's "
        f"reconstruction of the masked input, in the table's order ({', '.join(parts['recs'])}).",
        "",
        "## The DAE as a generative model (2-D Gaussian mixture)",
        "",
        *toy_lines,
        "",
        "Figure: `autoencoders_chain_2d.png` (data, the learned and true fields, the chain's "
        "samples, and the mean-reconstruction chain).",
    ]
    (RESULTS / "autoencoders.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="MNIST steps per model")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--code-dim", type=int, default=64)
    parser.add_argument("--mask", type=float, default=0.25, help="DAE masking fraction")
    parser.add_argument("--cae-weights", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--num-test", type=int, default=10_000)
    parser.add_argument("--toy-steps", type=int, default=1500)
    parser.add_argument("--toy-sigma", type=float, default=0.2)
    parser.add_argument("--chain-steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default="/work/shared/data")
    parser.add_argument("--threads", type=int, default=1)
    ns = parser.parse_args()
    ns.cmdline = " ".join(sys.argv[1:])
    main(ns)
