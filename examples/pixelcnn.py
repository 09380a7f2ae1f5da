"""Autoregressive image models (PixelCNN, Gated PixelCNN, PixelCNN++, MADE) as Pyro models.

Trains one family by maximum likelihood (SVI with the model's empty guide) with
:func:`pyrogen.infer.fit`, reports the exact test NLL in nats and bits/dim, times naive
against cached sampling, and saves a grid of samples::

    python examples/pixelcnn.py --arch gated --dataset binarized_mnist --epochs 5 --out runs/gpcnn
    python examples/pixelcnn.py --smoke-test
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pyro
import torch

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.models import MADE, GatedPixelCNN, PixelCNN, PixelCNNpp


def build(arch: str, x_shape: tuple[int, ...], channels: int, layers: int) -> torch.nn.Module:
    if arch == "pixelcnn":
        return PixelCNN(x_shape, channels=channels, num_layers=layers)
    if arch == "gated":
        return GatedPixelCNN(x_shape, channels=channels, num_layers=layers)
    if arch == "pixelcnnpp":
        # Binary pixels as two levels of PixelCNN++'s discretized logistic mixture.
        return PixelCNNpp(x_shape, num_mixtures=3, num_bins=2, channels=channels, num_layers=layers)
    if arch == "made":
        return MADE(x_shape, hidden=(8 * channels,))
    raise ValueError(f"unknown arch {arch!r}; expected pixelcnn, gated, pixelcnnpp or made")


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    binarize = None if args.dataset == "binarized_mnist" else "threshold"
    train = load(args.dataset, "train", root=args.data_root, binarize=binarize)
    test = load(args.dataset, "test", root=args.data_root, binarize=binarize)
    n_train, n_test, epochs, channels, layers = len(train), 2000, args.epochs, 32, 5
    num_samples = args.num_samples
    if args.smoke_test:
        n_train, n_test, epochs, channels, layers, num_samples = 256, 64, 1, 8, 2, 4
    g = torch.Generator().manual_seed(args.seed)
    x_train = train.x[torch.randperm(len(train), generator=g)[:n_train]]
    # Random test subset: binarized MNIST's test split is sorted by digit.
    x_test = test.x[torch.randperm(len(test), generator=g)[:n_test]].to(device)

    m = build(args.arch, tuple(train.x.shape[1:]), channels, layers)
    trainer = SVITrainer(m, lr=args.lr)
    fit(
        trainer,
        x_train,
        epochs=epochs,
        batch_size=args.batch_size,
        test_data=x_test,
        device=device,
        out=args.out,
        seed=args.seed,
        progress=not args.smoke_test,
    )
    m.eval()
    with torch.no_grad():
        nll = float(-m.log_prob(x_test).mean())
    dims = x_test[0].numel()
    print(f"{args.arch}: test NLL {nll:.2f} nats, {nll / (dims * math.log(2)):.4f} bits/dim")

    times = {}
    for cached in (False, True) if m.has_cache else (False,):
        t = time.perf_counter()
        samples = m.sample(num_samples, cached=cached, generator=g.manual_seed(1))
        times[cached] = time.perf_counter() - t
        print(
            f"sampling {num_samples} images ({'cached' if cached else 'naive'}): "
            f"{times[cached]:.2f} s"
        )
    if args.out:
        plots.save_image_grid(samples, Path(args.out) / "samples.png", title=args.arch)
    return {
        "test_nll": nll,
        **{f"sample_s_{'cached' if k else 'naive'}": v for k, v in times.items()},
    }


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--arch", default="gated", choices=["pixelcnn", "gated", "pixelcnnpp", "made"])
parser.add_argument("--dataset", default="digits")
parser.add_argument("--data-root", default=None)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--num-samples", type=int, default=16)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="run directory for checkpoints and figures")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
