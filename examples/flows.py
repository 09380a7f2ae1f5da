"""Normalizing flows: 2-D densities by maximum likelihood, and VAEs with flow guides.

``--task density`` fits :class:`pyrogen.models.FlowDensity` (planar, radial, MAF, IAF,
RealNVP or NICE) to a toy 2-D density and reports the test NLL; ``--task vae`` trains a
:class:`pyrogen.models.VAE` whose guide is a Gaussian pushed through K planar, radial or IAF
steps and reports the test ELBO and the importance-sampled NLL::

    python examples/flows.py --task density --flow maf --dataset two_moons --epochs 20
    python examples/flows.py --task vae --flow planar --flow-length 16 \\
        --dataset binarized_mnist --epochs 10
    python examples/flows.py --smoke-test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyro
import torch
from pyro.infer import Trace_ELBO

from pyrogen import plots
from pyrogen.data import load, toy_2d
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.metrics import log_likelihood
from pyrogen.models import VAE, FlowDensity


def run_density(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    gen = torch.Generator().manual_seed(args.seed)
    n_train, n_test = (256, 64) if args.smoke_test else (args.num_points, 5000)
    x_train, x_test = toy_2d(args.dataset, n_train, gen), toy_2d(args.dataset, n_test, gen)
    kwargs = {"num_layers": args.num_layers, "hidden": tuple(args.hidden)}
    model = FlowDensity((2,), flow=args.flow, **kwargs)
    trainer = SVITrainer(model, Trace_ELBO(), lr=args.lr)
    epochs = 1 if args.smoke_test else args.epochs
    fit(trainer, x_train, epochs=epochs, batch_size=args.batch_size, device=device,
        out=args.out, seed=args.seed, progress=not args.smoke_test)  # fmt: skip
    model.eval()
    with torch.no_grad():
        nll = -model.log_prob(x_test.to(device)).mean().item()
    print(f"{args.flow} on {args.dataset}: test NLL {nll:.3f} nats")
    if args.out:
        grid = torch.linspace(-4, 4, 150, device=device)
        xx, yy = torch.meshgrid(grid, grid, indexing="xy")
        with torch.no_grad():
            log_density = model.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1))
        plots.save_density_2d(log_density.reshape(xx.shape).cpu(), (-4, 4, -4, 4),
                              Path(args.out) / "density.png", samples=model.sample(2000).cpu(),
                              title=f"{args.flow} density")  # fmt: skip
    return {"test_nll": nll}


def run_vae(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    binarize = None if args.dataset == "binarized_mnist" else "dynamic"
    train = load(args.dataset, "train", root=args.data_root, binarize=binarize)
    test = load(args.dataset, "test", root=args.data_root, binarize=binarize)
    n_train, n_test, samples = len(train), min(len(test), 2000), args.num_samples
    if args.smoke_test:
        n_train, n_test, samples = 256, 32, 10
    x_train = train.epoch(torch.Generator().manual_seed(args.seed))[:n_train]
    # A random subset: binarized MNIST's test split is sorted by digit.
    x_test = test.epoch(torch.Generator().manual_seed(args.seed + 1))[:n_test].to(device)
    vae = VAE(train.x.shape[1:], z_dim=args.z_dim, hidden=tuple(args.hidden), flow=args.flow,
              flow_length=args.flow_length)  # fmt: skip
    trainer = SVITrainer(vae, Trace_ELBO(), lr=args.lr)
    history = fit(trainer, x_train, epochs=1 if args.smoke_test else args.epochs,
                  batch_size=args.batch_size, test_data=x_test, device=device, out=args.out,
                  seed=args.seed, progress=not args.smoke_test)  # fmt: skip
    vae.eval()
    nll = -log_likelihood(vae, x_test, num_samples=samples).mean().item()
    elbo = -history[-1]["test_loss"]
    print(f"VAE, {args.flow} guide (K={args.flow_length}): test ELBO {elbo:.2f} nats, "
          f"test NLL ({samples} IS samples) {nll:.2f} nats")  # fmt: skip
    return {"test_elbo": elbo, "test_nll": nll}


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    args = argparse.Namespace(**vars(args))
    if args.dataset is None:
        args.dataset = "two_moons" if args.task == "density" else "digits"
    if args.hidden is None:
        args.hidden = [64, 64] if args.task == "density" else [200, 200]
    return args


def main(args: argparse.Namespace) -> dict[str, float]:
    args = _defaults(args)
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    if args.smoke_test:
        # One tiny run of each task, with the flows each task supports.
        small = dict(vars(args), epochs=1, hidden=[16], num_layers=2, z_dim=4, flow_length=2)
        for flow in ("maf", "planar"):
            run_density(argparse.Namespace(**dict(small, flow=flow, dataset="two_moons")), device)
        for flow in ("planar", "iaf"):
            run_vae(argparse.Namespace(**dict(small, flow=flow, dataset="digits")), device)
        return {}
    if args.task == "density":
        return run_density(args, device)
    return run_vae(args, device)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--task", choices=["density", "vae"], default="density")
parser.add_argument("--flow", default="maf", help="density: maf, iaf, realnvp, nice, planar, "
                    "radial; vae: planar, radial, iaf")  # fmt: skip
parser.add_argument("--dataset", default=None, help="density: a pyrogen.data toy name "
                    "(default two_moons); vae: an image dataset (default digits)")  # fmt: skip
parser.add_argument("--data-root", default=None)
parser.add_argument("--num-layers", type=int, default=5, help="layers of the density flow")
parser.add_argument("--flow-length", type=int, default=4, help="K steps of the VAE's flow")
parser.add_argument("--hidden", type=int, nargs="+", default=None)
parser.add_argument("--z-dim", type=int, default=40)
parser.add_argument("--num-points", type=int, default=20000, help="density: training points")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--num-samples", type=int, default=1000, help="IS samples for the NLL")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="run directory for checkpoints and figures")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")


if __name__ == "__main__":
    main(parser.parse_args())
