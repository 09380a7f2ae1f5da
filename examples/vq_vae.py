"""VQ-VAE with a PixelCNN-style prior over its codes: stage 1, stage 2, and sampling.

Stage 1 trains :class:`pyrogen.models.VQVAE` (straight-through gradient, codebook and
commitment losses or ``--ema`` codebook updates) with :func:`pyrogen.infer.fit` and reports
reconstruction error, codebook usage and perplexity; stage 2 fits
:meth:`pyrogen.models.PixelCNN.for_codes` to the code grids of the training images, also with
``fit`` (it is a fully observed Pyro model); samples are decoded codes from that prior::

    python examples/vq_vae.py --dataset fashion_mnist --epochs 5 --out runs/vq
    python examples/vq_vae.py --smoke-test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyro
import torch

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import SVITrainer, VQVAETrainer, fit, resolve_device
from pyrogen.models import VQVAE, PixelCNN


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    train = load(args.dataset, "train", root=args.data_root)
    test = load(args.dataset, "test", root=args.data_root)
    x, x_test, epochs = train.x, test.x[:2000], args.epochs
    if args.smoke_test:
        x, x_test, epochs = x[:256], x_test[:64], 1
    vq = VQVAE(
        x.shape[1:],
        num_codes=args.num_codes,
        code_dim=args.code_dim,
        hidden=args.hidden,
        ema=args.ema,
    )
    history = fit(
        VQVAETrainer(vq, lr=args.lr),
        x,
        epochs=epochs,
        batch_size=args.batch_size,
        test_data=x_test,
        device=device,
        seed=args.seed,
        progress=not args.smoke_test,
        out=None if args.out is None else Path(args.out) / "stage1",
    )
    last = history[-1]
    print(
        f"test recon {last['test_recon']:.1f} nats, MSE/pixel {last['test_mse']:.4f}, "
        f"perplexity {last['test_perplexity']:.1f} of {args.num_codes}, "
        f"usage {last['test_usage']:.2f}"
    )

    with torch.no_grad():
        # Code grids (n, h, w) as the one-channel images (n, 1, h, w) the prior scores.
        codes = torch.cat([vq.codes(c.to(device)) for c in x.split(1000)]).cpu()[:, None].float()
        test_codes = torch.cat([vq.codes(c.to(device)) for c in x_test.split(1000)])
        test_codes = test_codes.cpu()[:, None].float()
    prior = PixelCNN.for_codes(args.num_codes, vq.latent_shape, channels=64, num_layers=4)
    history = fit(
        SVITrainer(prior, lr=args.lr),
        codes,
        epochs=epochs,
        batch_size=args.batch_size,
        test_data=test_codes,
        device=device,
        seed=args.seed,
        progress=not args.smoke_test,
        out=None if args.out is None else Path(args.out) / "stage2",
    )
    prior_nll = history[-1]["test_loss"]
    print(f"prior NLL of test codes {prior_nll:.1f} nats per image")
    vq.prior = prior
    samples = vq.sample(64)
    if args.out:
        out = Path(args.out)
        plots.save_image_grid(samples, out / "prior_samples.png", nrow=8)
        x_show = x_test[:16].to(device)
        plots.save_reconstructions(x_show, vq.reconstruct(x_show), out / "reconstructions.png")
    return {"test_mse": last["test_mse"], "usage": last["test_usage"], "prior_nll": prior_nll}


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="digits")
parser.add_argument("--data-root", default=None)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--num-codes", type=int, default=128)
parser.add_argument("--code-dim", type=int, default=16)
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--ema", action="store_true", help="EMA codebook updates")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="run directory for checkpoints and figures")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
