"""beta-VAE and controlled-capacity VAE on procedural sprites, scored by the beta-VAE metric.

Trains a convolutional :class:`pyrogen.models.VAE` with :class:`pyrogen.objectives.BetaELBO`
(``--beta``, and ``--capacity`` for Burgess et al.'s C(t) schedule growing linearly to
``--capacity`` nats), reports the test ELBO, the KL per latent dimension and the disentanglement
metric of Higgins et al. (2017), and saves latent traversals::

    python examples/beta_vae.py --beta 4 --epochs 20
    python examples/beta_vae.py --beta 20 --capacity 25 --epochs 20
    python examples/beta_vae.py --smoke-test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyro
import torch

from pyrogen import plots
from pyrogen.data import Sprites, load_sprites
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.metrics import beta_vae_score
from pyrogen.models import VAE
from pyrogen.objectives import BetaELBO, LinearCapacity


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    n_train, epochs, metric_points = args.num_data, args.epochs, (800, 400)
    if args.smoke_test:
        n_train, epochs, metric_points = 256, 1, (40, 20)
    sprites = Sprites(size=args.size)
    x, _ = load_sprites(n_train, sprites=sprites, seed=args.seed)
    x_test, _ = load_sprites(500 if not args.smoke_test else 32, sprites=sprites, seed=999)

    vae = VAE((1, args.size, args.size), z_dim=args.z_dim, hidden=(256,), arch="conv", act="relu")
    steps = epochs * -(-n_train // args.batch_size)
    capacity = LinearCapacity(args.capacity, steps) if args.capacity is not None else None
    trainer = SVITrainer(vae, BetaELBO(beta=args.beta, capacity=capacity), lr=args.lr)
    fit(
        trainer,
        x,
        epochs=epochs,
        batch_size=args.batch_size,
        device=device,
        out=args.out,
        seed=args.seed,
        progress=not args.smoke_test,
    )

    vae.eval()
    x_test = x_test.to(device)
    elbo = -BetaELBO().loss(vae.model, vae.guide, x_test) / len(x_test)
    with torch.no_grad():
        loc, scale = vae.encode(x_test)
        kl = (0.5 * (loc**2 + scale**2 - 1) - scale.log()).mean(0).cpu()
    score = beta_vae_score(lambda im: vae.encode(im)[0], sprites, *metric_points, device=device)
    print(f"test ELBO {elbo:.2f} nats; KL per dim {[round(v, 2) for v in kl.tolist()]}")
    print(f"beta-VAE metric accuracy {score['accuracy']:.3f} (chance {score['chance']:.2f})")
    if args.out:
        out = Path(args.out)
        dims = kl.argsort(descending=True)[:6]
        values = torch.linspace(-2.5, 2.5, 9, device=device)
        z = loc[:1].repeat(len(dims) * len(values), 1)
        for r, d in enumerate(dims.tolist()):
            z[r * len(values) : (r + 1) * len(values), d] = values
        with torch.no_grad():
            grid = torch.sigmoid(vae.decode(z))
        plots.save_image_grid(
            grid,
            out / "traversals.png",
            nrow=len(values),
            title="latent traversals (rows: dims by KL)",
        )
    return {"test_elbo": elbo, "metric": score["accuracy"]}


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--beta", type=float, default=4.0)
parser.add_argument("--capacity", type=float, default=None, help="final C in nats")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--num-data", type=int, default=20_000)
parser.add_argument("--size", type=int, default=32)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--z-dim", type=int, default=10)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="run directory for checkpoints and figures")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
