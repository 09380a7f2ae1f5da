"""VQ-VAE on Fashion-MNIST: reconstruction, codebook usage, and samples from a code prior.

Stage 1 trains the VQ-VAE (codebook by gradient, and with EMA updates); stage 2 fits the
masked-convolution prior over the 7x7 code grids of training images. Writes
``benchmarks/results/vq_vae.md`` and PNG figures next to it.

    python benchmarks/vq_vae.py --steps 1500 --prior-steps 1500
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import pyro
import torch

from pyrogen.data import load
from pyrogen.infer import VQVAETrainer
from pyrogen.models import VQVAE, PixelCNN
from pyrogen.plots import save_image_grid, save_reconstructions

RESULTS = Path(__file__).parent / "results"


def batches(n: int, size: int, gen: torch.Generator):
    while True:
        yield torch.randint(n, (size,), generator=gen)


@torch.no_grad()
def evaluate(vq: VQVAE, x: torch.Tensor) -> dict[str, float]:
    """Test reconstruction terms and codebook statistics over the whole set."""
    vq.eval()
    recon = mse = 0.0
    counts = torch.zeros(vq.num_codes)
    for chunk in x.split(1000):
        out = vq.losses(chunk)
        recon += float(out["recon"]) * len(chunk)
        mse += float(out["mse"]) * len(chunk)
        counts += torch.bincount(vq.codes(chunk).flatten(), minlength=vq.num_codes)
    p = counts / counts.sum()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
    return {
        "recon": recon / len(x),
        "mse": mse / len(x),
        "perplexity": math.exp(entropy),
        "usage": float((counts > 0).float().mean()),
    }


def train_prior(vq: VQVAE, x: torch.Tensor, x_test: torch.Tensor, args) -> tuple:
    # Code grids (n, h, w) as the one-channel images (n, 1, h, w) the prior scores.
    codes = torch.cat([vq.codes(c) for c in x.split(1000)])[:, None].float()
    test_codes = torch.cat([vq.codes(c) for c in x_test.split(1000)])[:, None].float()
    prior = PixelCNN.for_codes(
        vq.num_codes, vq.latent_shape, channels=args.prior_channels, num_layers=args.prior_layers
    )
    optim = torch.optim.Adam(prior.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(1)
    it = batches(len(codes), args.batch, gen)
    for _ in range(args.prior_steps):
        loss = -prior.log_prob(codes[next(it)]).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    with torch.no_grad():
        nll = float(torch.cat([-prior.log_prob(c) for c in test_codes.split(1000)]).mean())
    return prior, nll


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    x, _ = load("fashion_mnist", "train", root=args.root)
    x_test, _ = load("fashion_mnist", "test", root=args.root)
    x_test = x_test[: args.num_test]
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    variants = {"grad": (False, "uniform"), "ema": (True, "uniform"), "ema-data": (True, "data")}
    for ema, init in (variants[v] for v in args.variants):
        pyro.set_rng_seed(0)
        vq = VQVAE(
            (1, 28, 28),
            num_codes=args.num_codes,
            code_dim=args.code_dim,
            hidden=args.hidden,
            ema=ema,
            init=init,
        )
        trainer = VQVAETrainer(vq, lr=args.lr)
        it = batches(len(x), args.batch, torch.Generator().manual_seed(0))
        start = time.time()
        for _ in range(args.steps):
            trainer.step(x[next(it)])
        secs = time.time() - start
        stats = evaluate(vq, x_test)
        start = time.time()
        prior, prior_nll = train_prior(vq, x[: args.prior_data], x_test, args)
        prior_secs = time.time() - start
        uniform = math.prod(vq.latent_shape) * math.log(vq.num_codes)
        name = ("EMA codebook" if ema else "codebook loss") + f", {init} init"
        rows.append((name, stats, prior_nll, uniform, secs, prior_secs))
        print(rows[-1], flush=True)
        tag = ("ema" if ema else "grad") + ("_datainit" if init == "data" else "")
        save_reconstructions(
            x_test[:16], vq.reconstruct(x_test[:16]), RESULTS / f"vq_vae_{tag}_reconstructions.png"
        )
        pyro.set_rng_seed(0)
        vq.prior = prior
        save_image_grid(
            vq.sample(64),
            RESULTS / f"vq_vae_{tag}_prior_samples.png",
            nrow=8,
            title=f"VQ-VAE ({name}): samples from the PixelCNN code prior",
        )
        vq.prior = None
        save_image_grid(
            vq.sample(64),
            RESULTS / f"vq_vae_{tag}_uniform_samples.png",
            nrow=8,
            title=f"VQ-VAE ({name}): codes drawn uniformly (stage-1 prior)",
        )
    write(rows, args)


def write(rows, args) -> None:
    lines = [
        "# VQ-VAE on Fashion-MNIST",
        "",
        f"Command: `python benchmarks/vq_vae.py {args.cmdline}`",
        "",
        f"Budget: stage 1 {args.steps} Adam steps (lr {args.lr:g}) of {args.batch} images; "
        f"stage 2 {args.prior_steps} steps of the masked-conv code prior ({args.prior_layers} "
        f"layers, {args.prior_channels} channels) on the codes of the first {args.prior_data} "
        f"training images. Codebook K = {args.num_codes}, D = {args.code_dim}, latent grid "
        f"7x7, commitment beta = 0.25, conv trunks with {args.hidden} channels, continuous "
        f"Bernoulli decoder. Test: first {args.num_test} Fashion-MNIST test images. CPU, "
        f"{args.threads} thread(s).",
        "",
        "| codebook update | test recon -log p(x\\|z_q) (nats) | test MSE / pixel | "
        "code perplexity (test) | codebook usage (test) | prior NLL of test codes (nats) | "
        "uniform prior (nats) | stage 1 / 2 time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s, nll, uniform, secs, psecs in rows:
        lines.append(
            f"| {name} | {s['recon']:.1f} | {s['mse']:.4f} | {s['perplexity']:.1f} "
            f"of {args.num_codes} | {s['usage']:.2f} | {nll:.1f} | {uniform:.1f} "
            f"| {secs:.0f} / {psecs:.0f} |"
        )
    lines += [
        "",
        "Figures: `vq_vae_<variant>_reconstructions.png` (test images over their "
        "reconstructions), `vq_vae_<variant>_prior_samples.png` (codes from the learned "
        "prior, decoded), `vq_vae_<variant>_uniform_samples.png` (codes drawn uniformly, the "
        "stage-1 prior, for contrast).",
    ]
    (RESULTS / "vq_vae.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--prior-steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--num-codes", type=int, default=128)
    parser.add_argument("--code-dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--prior-channels", type=int, default=64)
    parser.add_argument("--prior-layers", type=int, default=4)
    parser.add_argument("--prior-data", type=int, default=20_000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--root", default="/work/shared/data")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["grad", "ema", "ema-data"],
        choices=["grad", "ema", "ema-data"],
        help="codebook updates: gradient, EMA, EMA with data-initialized codes",
    )
    ns = parser.parse_args()
    ns.cmdline = " ".join(sys.argv[1:])
    main(ns)
