"""VQ-VAE-2 beside the one-level VQ-VAE on Fashion-MNIST, at the same budget.

Both models get the same stage-1 steps, batch and learning rate, and a similar parameter
count; each code prior (the one-level 7x7 prior, the two-level 4x4 top prior and 7x7 bottom
prior conditioned on the top codes) gets the same masked-conv architecture and steps.
Measures test reconstruction, code usage per level, prior NLL of test codes, and draws
samples (top prior -> bottom prior -> decoder). Writes ``benchmarks/results/vq_vae2.md`` and
PNG figures next to it.

    python benchmarks/vq_vae2.py
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyro
import torch

from pyrogen.data import load
from pyrogen.infer import VQVAETrainer
from pyrogen.models import VQVAE, VQVAE2, PixelCNN
from pyrogen.plots import save_image_grid

RESULTS = Path(__file__).parent / "results"


def batches(n: int, size: int, seed: int) -> Iterator[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randint(n, (size,), generator=gen)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if not n.startswith("prior."))


def usage(codes: torch.Tensor, k: int) -> tuple[float, float]:
    """Perplexity exp(H) of the code histogram and the fraction of the K codes used."""
    counts = torch.bincount(codes.flatten(), minlength=k).double()
    p = counts[counts > 0] / counts.sum()
    return math.exp(float(-(p * p.log()).sum())), float((counts > 0).double().mean())


def all_codes(vq: VQVAE | VQVAE2, x: torch.Tensor) -> list[torch.Tensor]:
    """Code grids of ``x`` per level: ``[bottom]`` or ``[top, bottom]``."""
    chunks = [vq.codes(c) for c in x.split(1000)]
    if isinstance(vq, VQVAE):
        return [torch.cat(chunks)]  # type: ignore[arg-type]
    return [torch.cat([c[i] for c in chunks]) for i in range(2)]


@torch.no_grad()
def test_recon(vq: VQVAE | VQVAE2, x: torch.Tensor) -> tuple[float, float]:
    vq.eval()
    recon = mse = 0.0
    for chunk in x.split(1000):
        out = vq.losses(chunk)
        recon += float(out["recon"]) * len(chunk)
        mse += float(out["mse"]) * len(chunk)
    return recon / len(x), mse / len(x)


def as_images(codes: torch.Tensor) -> torch.Tensor:
    """Code grids ``(n, h, w)`` as the one-channel images ``(n, 1, h, w)`` a prior scores."""
    return codes[:, None].float()


def fit_prior(prior: PixelCNN, codes: torch.Tensor, cond: torch.Tensor | None, args) -> PixelCNN:
    optim = torch.optim.Adam(prior.parameters(), lr=args.lr)
    it = batches(len(codes), args.batch, seed=1)
    for _ in range(args.prior_steps):
        idx = next(it)
        loss = -prior.log_prob(as_images(codes[idx]), None if cond is None else cond[idx]).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    return prior


@torch.no_grad()
def nll(prior: PixelCNN, codes: torch.Tensor, cond: torch.Tensor | None = None) -> float:
    """Mean -log p(codes) in nats per image."""
    parts = [
        -prior.log_prob(as_images(c), None if cond is None else cond[i : i + len(c)])
        for i, c in zip(range(0, len(codes), 1000), codes.split(1000), strict=True)
    ]
    return float(torch.cat(parts).mean())


def train_stage1(vq: VQVAE | VQVAE2, x: torch.Tensor, args) -> float:
    trainer = VQVAETrainer(vq, lr=args.lr)
    it = batches(len(x), args.batch, seed=0)
    start = time.time()
    for _ in range(args.steps):
        trainer.step(x[next(it)])
    return time.time() - start


def prior_for(k: int, shape, args, cond_codes: int = 0) -> PixelCNN:
    return PixelCNN.for_codes(
        k, shape, channels=args.prior_channels, num_layers=args.prior_layers, cond_codes=cond_codes
    )


def main(args: argparse.Namespace) -> None:
    wall, cpu = time.time(), time.process_time()
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    x, _ = load("fashion_mnist", "train", root=args.root)
    x_test, _ = load("fashion_mnist", "test", root=args.root)
    x_test, x_prior = x_test[: args.num_test], x[: args.prior_data]
    RESULTS.mkdir(parents=True, exist_ok=True)
    k, kt = args.num_codes, args.num_top_codes
    common = dict(code_dim=args.code_dim, ema=args.ema, init=args.init)
    rows, recons, samples = [], [], []

    # -- one level ------------------------------------------------------------------------
    pyro.set_rng_seed(0)
    vq1 = VQVAE((1, 28, 28), num_codes=k, hidden=args.hidden, **common)
    secs = train_stage1(vq1, x, args)
    recon, mse = test_recon(vq1, x_test)
    (test_codes,) = all_codes(vq1, x_test)
    start = time.time()
    (train_codes,) = all_codes(vq1, x_prior)
    prior = fit_prior(prior_for(k, vq1.latent_shape, args), train_codes, None, args)
    prior_nll = nll(prior, test_codes)
    psecs = time.time() - start
    rows.append(
        dict(
            name="VQ-VAE (one level)", params=n_params(vq1), secs=secs, psecs=psecs,
            prior_params=n_params(prior), recon=recon, mse=mse,
            levels=[("bottom 7x7", usage(test_codes, k), k, 49, prior_nll)],
            nll=prior_nll, num_codes=49, bits=49 * math.log2(k), shuffled=None,
        )
    )  # fmt: skip
    print(rows[-1], flush=True)
    recons.append(vq1.reconstruct(x_test[:16]))
    pyro.set_rng_seed(0)
    vq1.prior = prior
    samples.append(vq1.sample(64))

    # -- two levels -----------------------------------------------------------------------
    pyro.set_rng_seed(0)
    vq2 = VQVAE2((1, 28, 28), num_codes=k, num_top_codes=kt, hidden=args.hidden2, **common)
    secs = train_stage1(vq2, x, args)
    recon, mse = test_recon(vq2, x_test)
    top, bottom = all_codes(vq2, x_test)
    start = time.time()
    train_top, train_bottom = all_codes(vq2, x_prior)
    top_prior = fit_prior(prior_for(kt, vq2.top_shape, args), train_top, None, args)
    bottom_prior = prior_for(k, vq2.latent_shape, args, cond_codes=kt)
    bottom_prior = fit_prior(bottom_prior, train_bottom, train_top, args)
    top_nll, bottom_nll = nll(top_prior, top), nll(bottom_prior, bottom, top)
    shuffled = nll(bottom_prior, bottom, top[torch.randperm(len(top))])
    psecs = time.time() - start
    nt, nb = math.prod(vq2.top_shape), math.prod(vq2.latent_shape)
    rows.append(
        dict(
            name="VQ-VAE-2 (two levels)", params=n_params(vq2), secs=secs, psecs=psecs,
            prior_params=n_params(top_prior) + n_params(bottom_prior), recon=recon, mse=mse,
            levels=[
                ("top 4x4", usage(top, kt), kt, nt, top_nll),
                ("bottom 7x7 given top", usage(bottom, k), k, nb, bottom_nll),
            ],
            nll=top_nll + bottom_nll, num_codes=nt + nb,
            bits=nt * math.log2(kt) + nb * math.log2(k), shuffled=shuffled,
        )
    )  # fmt: skip
    print(rows[-1], flush=True)
    recons.append(vq2.reconstruct(x_test[:16]))
    vq2.prior["top"], vq2.prior["bottom"] = top_prior, bottom_prior
    pyro.set_rng_seed(0)
    samples.append(vq2.sample(64))
    figures(x_test, recons, samples, vq2, bottom_prior)
    write(rows, args, time.time() - wall, time.process_time() - cpu)


@torch.no_grad()
def figures(x_test, recons, samples, vq2: VQVAE2, bottom_prior: PixelCNN) -> None:
    grid = torch.cat([torch.cat([x_test[i : i + 8], r1[i : i + 8], r2[i : i + 8]]) for i, r1, r2
                      in ((0, *recons), (8, *recons))])  # fmt: skip
    save_image_grid(
        grid, RESULTS / "vq_vae2_reconstructions.png", nrow=8,
        title="rows: test images, VQ-VAE, VQ-VAE-2 (twice)",
    )  # fmt: skip
    for name, s in zip(("vq_vae", "vq_vae2"), samples, strict=True):
        save_image_grid(
            s, RESULTS / f"vq_vae2_samples_{name}.png", nrow=8,
            title=("VQ-VAE-2: top prior -> bottom prior -> decoder" if name == "vq_vae2"
                   else "one-level VQ-VAE: code prior -> decoder"),
        )  # fmt: skip
    # What each level holds: the top codes of 8 test images kept, the bottom codes redrawn.
    top, bottom = vq2.codes(x_test[:8])
    pyro.set_rng_seed(1)
    redrawn = [bottom_prior.sample(8, y=top)[:, 0].long() for _ in range(6)]
    cols = [x_test[:8], vq2.reconstruct(x_test[:8])]
    cols += [vq2.likelihood.mean(vq2.decode_codes(top, b), 3) for b in redrawn]
    save_image_grid(
        torch.stack(cols, 1).flatten(0, 1), RESULTS / "vq_vae2_same_top_new_bottom.png",
        nrow=len(cols), title="test image, reconstruction, 6 bottom grids given its top codes",
    )  # fmt: skip


def write(rows, args, wall: float, cpu: float) -> None:
    lines = [
        "# VQ-VAE-2 beside VQ-VAE on Fashion-MNIST",
        "",
        f"Command: `{' '.join(['python benchmarks/vq_vae2.py', args.cmdline]).strip()}`",
        "",
        f"Budget (both models): stage 1 {args.steps} Adam steps (lr {args.lr:g}) of "
        f"{args.batch} images, codebook {'EMA' if args.ema else 'loss'}, {args.init} init, "
        f"commitment beta 0.25, D = {args.code_dim}, continuous Bernoulli decoder; conv trunks "
        f"of {args.hidden} (one level) and {args.hidden2} (two levels) channels, chosen so "
        f"the parameter counts are close. Every code prior: masked-conv PixelCNN, "
        f"{args.prior_layers} layers of {args.prior_channels} channels, {args.prior_steps} "
        f"Adam steps on the codes of the first {args.prior_data} training images (the bottom "
        f"prior of VQ-VAE-2 is conditioned on the true top codes). Test: first "
        f"{args.num_test} Fashion-MNIST test images. CPU, {args.threads} thread(s); the "
        f"whole run took {wall / 60:.1f} min wall, {cpu / 60:.1f} min of CPU time.",
        "",
        "| model | stage-1 params | test recon -log p(x\\|codes) (nats) | test MSE / pixel | "
        "code capacity (bits / image) | prior NLL of test codes (nats / image) | "
        "prior bits / code | prior params | stage 1 / 2 time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['params']:,} | {r['recon']:.1f} | {r['mse']:.4f} | "
            f"{r['bits']:.0f} | {r['nll']:.1f} | {r['nll'] / r['num_codes'] / math.log(2):.2f} | "
            f"{r['prior_params']:,} | {r['secs']:.0f} / {r['psecs']:.0f} |"
        )
    lines += [
        "",
        "Per level (test codes):",
        "",
        "| model | level | K | code perplexity | fraction of codes used | prior NLL (nats / "
        "image) | prior bits / code | uniform (bits / code) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for level, (ppl, used), kk, n, level_nll in r["levels"]:
            lines.append(
                f"| {r['name']} | {level} | {kk} | {ppl:.1f} | {used:.2f} | {level_nll:.1f} | "
                f"{level_nll / n / math.log(2):.2f} | {math.log2(kk):.2f} |"
            )
    two = rows[1]
    lines += [
        "",
        f"Does the bottom prior use its condition? Bottom NLL given the true top codes "
        f"{two['levels'][1][4]:.1f} nats / image; given the top codes of another (shuffled) "
        f"test image {two['shuffled']:.1f}.",
        "",
        "Figures: `vq_vae2_reconstructions.png` (test images, then the one-level and the "
        "two-level reconstructions), `vq_vae2_samples_vq_vae2.png` (top prior -> bottom prior "
        "-> decoder), `vq_vae2_samples_vq_vae.png` (the one-level model with its prior), "
        "`vq_vae2_same_top_new_bottom.png` (per row: a test image, its reconstruction, and six "
        "bottom grids drawn from the bottom prior given its top codes).",
    ]
    (RESULTS / "vq_vae2.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--prior-steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--num-codes", type=int, default=128)
    parser.add_argument("--num-top-codes", type=int, default=128)
    parser.add_argument("--code-dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=32, help="one-level trunk channels")
    parser.add_argument("--hidden2", type=int, default=25, help="two-level trunk channels")
    parser.add_argument("--ema", action="store_true", help="EMA codebooks (both models)")
    parser.add_argument("--init", default="uniform", choices=["uniform", "data"])
    parser.add_argument("--prior-channels", type=int, default=64)
    parser.add_argument("--prior-layers", type=int, default=4)
    parser.add_argument("--prior-data", type=int, default=20_000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--root", default="/work/shared/data")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="a tiny run to check the script")
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default benchmarks/results)"
    )
    ns = parser.parse_args()
    ns.cmdline = " ".join(sys.argv[1:])
    if ns.out is not None:
        RESULTS = ns.out
    elif ns.smoke:  # a smoke run never overwrites the measured results
        RESULTS = Path(tempfile.mkdtemp(prefix="vq_vae2_smoke_"))
        print(f"smoke run: writing to {RESULTS}")
    if ns.smoke:
        ns.steps, ns.prior_steps, ns.prior_data, ns.num_test = 5, 5, 200, 200
        ns.prior_channels, ns.prior_layers = 8, 1
    main(ns)
