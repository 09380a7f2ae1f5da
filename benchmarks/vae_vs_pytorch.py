"""Same model, same budget: pyrogen's VAE vs a hand-written PyTorch VAE on binarized MNIST.

The IWAE paper's one-stochastic-layer architecture (784-200-200-50 with tanh, Bernoulli
decoder), Adam with lr 1e-3, batch 100, fixed binarization (Larochelle & Murray 2011). Each
implementation trains for the same number of epochs from its own initialization and is
evaluated with its own importance-sampled NLL: pyrogen through
``pyrogen.metrics.log_likelihood``, the hand-written model through an independent
logsumexp written here. Both use the same random subset of the test set (the test split is
sorted by digit, so never a prefix)::

    python benchmarks/vae_vs_pytorch.py --epochs 10 --test-size 1000 --num-samples 5000
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pyro
import torch
import torch.nn.functional as F
from pyro.infer import Trace_ELBO
from torch import nn

from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit
from pyrogen.metrics import log_likelihood
from pyrogen.models import VAE


class HandVAE(nn.Module):
    def __init__(self, x_dim: int = 784, hidden: int = 200, z_dim: int = 50):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Linear(x_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.loc, self.scale = nn.Linear(hidden, z_dim), nn.Linear(hidden, z_dim)
        self.dec = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, x_dim),
        )

    def log_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k | x) for k draws: (k, B)."""
        h = self.enc(x)
        loc, scale = self.loc(h), F.softplus(self.scale(h)) + 1e-4
        z = loc + scale * torch.randn(k, *loc.shape)
        log_px = -F.binary_cross_entropy_with_logits(
            self.dec(z), x.expand(k, *x.shape), reduction="none"
        ).sum(-1)
        log_pz = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_qz = (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(
            -1
        )
        return log_px + log_pz - log_qz


def train_hand(x: torch.Tensor, epochs: int, seed: int) -> HandVAE:
    torch.manual_seed(seed)
    model = HandVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 100):
            opt.zero_grad()
            (-model.log_weights(x[perm[i : i + 100]], 1).mean()).backward()
            opt.step()
    return model


@torch.no_grad()
def hand_nll(model: HandVAE, x: torch.Tensor, num_samples: int, chunk: int = 500) -> float:
    total = []
    for i in range(0, x.shape[0], 100):
        xb = x[i : i + 100]
        acc = torch.full((xb.shape[0],), -math.inf)
        for j in range(0, num_samples, chunk):
            acc = torch.logaddexp(
                acc, model.log_weights(xb, min(chunk, num_samples - j)).logsumexp(0)
            )
        total.append(acc - math.log(num_samples))
    return float(-torch.cat(total).mean())


def main(args: argparse.Namespace) -> str:
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    train = load("binarized_mnist", "train", root=args.data_root).x
    test = load("binarized_mnist", "test", root=args.data_root).x
    test = test[torch.randperm(len(test), generator=torch.Generator().manual_seed(0))]
    test = test[: args.test_size]
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        pyro.set_rng_seed(seed)
        vae = VAE((1, 28, 28), z_dim=50, hidden=(200, 200), act="tanh")
        fit(
            SVITrainer(vae, Trace_ELBO(), lr=1e-3),
            train,
            epochs=args.epochs,
            batch_size=100,
            seed=seed,
            progress=False,
        )
        t1 = time.perf_counter()
        pyro.set_rng_seed(seed + 100)
        ours = float(-log_likelihood(vae, test, num_samples=args.num_samples).mean())
        t2 = time.perf_counter()
        hand = train_hand(train.reshape(len(train), -1), args.epochs, seed)
        t3 = time.perf_counter()
        torch.manual_seed(seed + 100)
        theirs = hand_nll(hand, test.reshape(len(test), -1), args.num_samples)
        rows.append((seed, ours, theirs, t1 - t0, t3 - t2))
        print(rows[-1], f"eval {t2 - t1:.0f}s", flush=True)
    lines = [
        f"Fixed binarized MNIST, 784-200-200-50 tanh VAE, Adam 1e-3, batch 100, "
        f"{args.epochs} epochs; test NLL from {args.num_samples} importance samples on a "
        f"random subset of {args.test_size} test images (the same for both).",
        "",
        "| seed | pyrogen NLL (nats) | hand-written PyTorch NLL (nats) | difference | "
        "train s (pyrogen) | train s (hand) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for seed, ours, theirs, ta, tb in rows:
        lines.append(
            f"| {seed} | {ours:.2f} | {theirs:.2f} | {ours - theirs:+.2f} | {ta:.0f} | {tb:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(
            "# pyrogen VAE vs hand-written PyTorch, same model and budget\n\n"
            f"`python benchmarks/vae_vs_pytorch.py --epochs {args.epochs} --test-size "
            f"{args.test_size} --num-samples {args.num_samples} --seeds "
            f"{' '.join(map(str, args.seeds))}`\n\n{table}\n"
        )
    return table


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--test-size", type=int, default=1000)
parser.add_argument("--num-samples", type=int, default=5000)
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--data-root", default=None)
parser.add_argument("--out", default="benchmarks/results/vae_vs_pytorch.md")

if __name__ == "__main__":
    main(parser.parse_args())
