"""InfoGAN on MNIST: a categorical and two continuous codes, and their latent traversals.

The generator draws ``z``, a 10-way one-hot code ``c_cat`` and two uniform codes ``c_cont``
as Pyro sample sites; the DCGAN critic carries a Q head that predicts the codes, and both
maximize the variational bound L_I on the mutual information between codes and images
(Chen et al. 2016, eq. (5)). Saves a traversal grid: one row per category, the first
continuous code swept from -1 to 1 along each row::

    python examples/infogan.py --epochs 5 --out runs/infogan
    python examples/infogan.py --smoke-test
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
from pyrogen.infer import AdversarialSVI, fit, resolve_device
from pyrogen.models import InfoGANDiscriminator, InfoGANGenerator
from pyrogen.objectives import GANLoss


def traversal(generator: InfoGANGenerator, steps: int = 8, code: int = 0, seed: int = 0):
    """Images ``(K * steps, C, H, W)``: row k fixes category k, columns sweep one code."""
    k, device = generator.num_categories, generator.device
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1, generator.z_dim, generator=g).to(device).expand(k * steps, -1)
    category = torch.arange(k, device=device).repeat_interleave(steps)
    c_cont = torch.zeros(k * steps, generator.num_continuous, device=device)
    c_cont[:, code] = torch.linspace(-1, 1, steps, device=device).repeat(k)
    return generator.traverse(z, category, c_cont)


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    dataset, n_train, epochs = args.dataset, args.train_size, args.epochs
    if args.smoke_test:
        dataset, n_train, epochs = "digits", 256, 1
    train = load(dataset, "train", root=args.data_root)
    x = train.x[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))][:n_train]
    shape = x.shape[1:]
    generator = InfoGANGenerator(shape, z_dim=args.z_dim, arch="dcgan", channels=(64, 32))
    critic = InfoGANDiscriminator(shape, arch="dcgan", channels=(32, 64))
    trainer = AdversarialSVI(generator, critic, GANLoss("nonsaturating"), info_weight=1.0)
    t0 = time.perf_counter()
    history = fit(
        trainer,
        x,
        epochs=epochs,
        batch_size=args.batch_size,
        device=device,
        out=args.out,
        seed=args.seed,
        progress=not args.smoke_test,
    )
    seconds = time.perf_counter() - t0
    mi = history[-1]["train_mi"]
    entropy = math.log(generator.num_categories) + generator.num_continuous * math.log(2)
    print(
        f"InfoGAN, {n_train} images x {epochs} epochs in {seconds:.0f} s: mutual-information "
        f"bound L_I {mi:.3f} nats (H(c) = {entropy:.3f}; the continuous part can exceed it)"
    )
    if args.out:
        generator.eval()
        for code in range(generator.num_continuous):
            path = Path(args.out) / f"traversal_c{code + 1}.png"
            plots.save_image_grid(traversal(generator, code=code).cpu(), path, nrow=8)
    return {"mi": mi, "seconds": seconds}


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="mnist")
parser.add_argument("--data-root", default=None)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--train-size", type=int, default=60000)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--z-dim", type=int, default=62)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None)
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
