"""Importance weighted autoencoder vs VAE: same network, K-sample bound vs ELBO.

Trains the IWAE paper's one- or two-layer model twice, once with the ELBO averaged over K
samples (VAE) and once with the K-sample importance weighted bound (IWAE, with the
reparameterized, STL or DReG gradient), and reports each one's test ELBO, IWAE bound,
importance-sampled NLL and active units::

    python examples/iwae.py --dataset binarized_mnist --k 5 --epochs 10
    python examples/iwae.py --estimator dreg --layers 2
    python examples/iwae.py --smoke-test
"""

from __future__ import annotations

import argparse

import pyro
import torch
from pyro.infer import Trace_ELBO

from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit, make_adam, resolve_device
from pyrogen.metrics import active_units, log_likelihood
from pyrogen.models import HierarchicalVAE
from pyrogen.objectives import IWAE_ELBO

Z_DIMS = {1: (50,), 2: (100, 50)}


def main(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    pyro.settings.set(module_local_params=True)
    device = resolve_device(args.device)
    binarize = None if args.dataset == "binarized_mnist" else "dynamic"
    train = load(args.dataset, "train", root=args.data_root, binarize=binarize)
    test = load(args.dataset, "test", root=args.data_root, binarize=binarize)
    epochs, n_test, samples = args.epochs, args.test_examples, args.num_samples
    z_dims, hidden = Z_DIMS[args.layers], None
    if args.smoke_test:
        epochs, n_test, samples, z_dims, hidden = 1, 32, 20, (4, 2)[: args.layers], (16,)
    g = torch.Generator().manual_seed(args.seed + 1)
    x_test = test.epoch(g)
    # a random subset, never a prefix: some test splits are sorted by class
    x_test = x_test[torch.randperm(len(x_test), generator=g)[:n_test]].to(device)
    n_test = x_test.shape[0]
    objectives = {
        "VAE": Trace_ELBO(num_particles=args.k, vectorize_particles=True, max_plate_nesting=1),
        "IWAE": IWAE_ELBO(num_particles=args.k, estimator=args.estimator),
    }
    results = {}
    for name, loss in objectives.items():
        pyro.set_rng_seed(args.seed)
        model = HierarchicalVAE(train.x.shape[1:], z_dims=z_dims, hidden=hidden)
        # Adam with eps = 1e-4 as in Burda et al. (sec. 5)
        optim = make_adam(model.parameters(), lr=args.lr, eps=1e-4)
        trainer = SVITrainer(model, loss, optim=optim)
        data = train.epoch()[:256] if args.smoke_test else train
        fit(
            trainer,
            data,
            epochs=epochs,
            batch_size=args.batch_size,
            device=device,
            seed=args.seed,
            progress=not args.smoke_test,
        )
        model.eval()
        elbo_k10 = Trace_ELBO(num_particles=10, vectorize_particles=True, max_plate_nesting=1)
        with torch.no_grad():
            elbo = -elbo_k10.loss(model.model, model.guide, x_test) / n_test
            bound = -IWAE_ELBO(num_particles=args.k).loss(model.model, model.guide, x_test)
        bound /= n_test
        nll = -log_likelihood(model, x_test, num_samples=samples).mean().item()
        au = active_units(model, x_test)
        results[name] = {"elbo": elbo, "iwae_bound": bound, "nll": nll, "active_units": au.total}
        print(
            f"{name:>4} (k={args.k}): test ELBO {elbo:8.2f}  IWAE-{args.k} bound {bound:8.2f}  "
            f"NLL ({samples} IS) {nll:7.2f}  active units {au}"
        )
    return results


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="digits")
parser.add_argument("--data-root", default=None)
parser.add_argument("--k", type=int, default=5, help="samples per example in the bound")
parser.add_argument("--estimator", default="reparam", choices=["reparam", "stl", "dreg"])
parser.add_argument("--layers", type=int, default=1, choices=[1, 2])
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=20)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--test-examples", type=int, default=500)
parser.add_argument("--num-samples", type=int, default=5000, help="IS samples for the NLL")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
