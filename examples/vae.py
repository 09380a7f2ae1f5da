"""Variational autoencoder on MNIST-like images, written and trained in Pyro syntax.

Trains :class:`pyrogen.models.VAE` with :class:`pyrogen.infer.SVITrainer` and
:func:`pyrogen.infer.fit`, reports the test ELBO and the importance-sampled NLL, and saves
sample and reconstruction grids::

    python examples/vae.py --dataset binarized_mnist --epochs 10
    python examples/vae.py --smoke-test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyro
import torch
from pyro.infer import Trace_ELBO

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.metrics import log_likelihood
from pyrogen.models import VAE


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    binarize = None if args.dataset == "binarized_mnist" else "dynamic"
    train = load(args.dataset, "train", root=args.data_root, binarize=binarize)
    test = load(args.dataset, "test", root=args.data_root, binarize=binarize)
    n_train, n_test, epochs, samples = len(train), len(test), args.epochs, args.num_samples
    if args.smoke_test:
        n_train, n_test, epochs, samples = 256, 32, 1, 20
    x_train = train.epoch(torch.Generator().manual_seed(args.seed))[:n_train]
    x_test = test.epoch(torch.Generator().manual_seed(args.seed + 1))[:n_test].to(device)

    vae = VAE(train.x.shape[1:], z_dim=args.z_dim, hidden=args.hidden, act="tanh")
    trainer = SVITrainer(vae, Trace_ELBO(), lr=args.lr)
    history = fit(
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
    nll = -log_likelihood(vae, x_test, num_samples=samples).mean().item()
    elbo = -history[-1]["test_loss"]
    print(f"test ELBO {elbo:.2f} nats, test NLL ({samples} IS samples) {nll:.2f} nats")
    if args.out:
        out = Path(args.out)
        plots.save_image_grid(vae.sample(64, mean=True), out / "samples.png")
        plots.save_reconstructions(x_test, vae.reconstruct(x_test), out / "reconstructions.png")
    return {"test_elbo": elbo, "test_nll": nll}


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="digits")
parser.add_argument("--data-root", default=None)
parser.add_argument("--epochs", type=int, default=50)
parser.add_argument("--batch-size", type=int, default=100)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--z-dim", type=int, default=50)
parser.add_argument("--hidden", type=int, nargs="+", default=[200, 200])
parser.add_argument("--num-samples", type=int, default=5000, help="IS samples for the NLL")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="run directory for checkpoints and figures")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
