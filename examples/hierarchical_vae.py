"""Hierarchical VAE with L stochastic layers, or its ladder variant, on binarized images.

Trains :class:`pyrogen.models.HierarchicalVAE` (top-down prior p(z_L) prod p(z_i | z_{i+1}),
bottom-up inference q(z_1|x) prod q(z_i|z_{i-1})) or :class:`pyrogen.models.LadderVAE`
(precision-weighted top-down inference) with the ELBO or the IWAE bound, then reports the
test ELBO, the importance-sampled NLL, active units per layer and the ELBO-surgery terms::

    python examples/hierarchical_vae.py --dataset binarized_mnist --epochs 10
    python examples/hierarchical_vae.py --ladder --z-dims 64 32 16 --loss iwae --k 5
    python examples/hierarchical_vae.py --smoke-test
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro.infer import Trace_ELBO

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit, make_adam, resolve_device
from pyrogen.metrics import latent_report, log_likelihood
from pyrogen.models import HierarchicalVAE, LadderVAE
from pyrogen.objectives import IWAE_ELBO


def main(args: argparse.Namespace) -> dict[str, Any]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    binarize = None if args.dataset == "binarized_mnist" else "dynamic"
    train = load(args.dataset, "train", root=args.data_root, binarize=binarize)
    test = load(args.dataset, "test", root=args.data_root, binarize=binarize)
    epochs, n_test, samples = args.epochs, args.test_examples, args.num_samples
    z_dims, hidden = tuple(args.z_dims), None
    if args.smoke_test:
        epochs, n_test, samples, z_dims, hidden = 1, 32, 20, (6, 3), (16,)
    g = torch.Generator().manual_seed(args.seed + 1)
    x_test = test.epoch(g)
    # a random subset, never a prefix: some test splits are sorted by class
    x_test = x_test[torch.randperm(len(x_test), generator=g)[:n_test]].to(device)

    cls = LadderVAE if args.ladder else HierarchicalVAE
    model = cls(train.x.shape[1:], z_dims=z_dims, hidden=hidden)
    loss = (
        IWAE_ELBO(num_particles=args.k, estimator=args.estimator)
        if args.loss == "iwae"
        else Trace_ELBO()
    )
    trainer = SVITrainer(model, loss, optim=make_adam(model.parameters(), lr=args.lr, eps=1e-4))
    history = fit(
        trainer,
        train.epoch()[:256] if args.smoke_test else train,
        epochs=epochs,
        batch_size=args.batch_size,
        test_data=x_test,
        device=device,
        out=args.out,
        seed=args.seed,
        progress=not args.smoke_test,
    )
    model.eval()
    nll = -log_likelihood(model, x_test, num_samples=samples).mean().item()
    report = {"test_loss": history[-1]["test_loss"], "test_nll": nll}
    report.update(latent_report(model, x_test))
    print(f"{cls.__name__} z_dims={z_dims} trained with {args.loss}")
    for key, value in report.items():
        print(f"  {key:<28} {value:.3f}" if isinstance(value, float) else f"  {key:<28} {value}")
    if args.out:
        out = Path(args.out)
        plots.save_image_grid(model.sample(64, mean=True), out / "samples.png")
        plots.save_reconstructions(x_test, model.reconstruct(x_test), out / "reconstructions.png")
    return report


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="digits")
parser.add_argument("--data-root", default=None)
parser.add_argument("--z-dims", type=int, nargs="+", default=[100, 50], help="z1 first")
parser.add_argument("--ladder", action="store_true", help="ladder inference (Sønderby 2016)")
parser.add_argument("--loss", default="elbo", choices=["elbo", "iwae"])
parser.add_argument("--k", type=int, default=5, help="particles of the IWAE bound")
parser.add_argument("--estimator", default="reparam", choices=["reparam", "stl", "dreg"])
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=20)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--test-examples", type=int, default=500)
parser.add_argument("--num-samples", type=int, default=5000, help="IS samples for the NLL")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="run directory for checkpoints and figures")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
