"""InfoVAE / MMD-VAE: the ELBO's per-example KL traded for an MMD between q(z) and p(z).

Trains :class:`pyrogen.models.InfoVAE` (``--alpha 1``: MMD-VAE; ``--alpha 0 --lambda 1``: the
plain ELBO) on grey-level images with a continuous Bernoulli decoder, and reports the test
reconstruction term, the KL the encoder ends up using, and the batch MMD to the prior::

    python examples/info_vae.py --dataset mnist --epochs 10
    python examples/info_vae.py --smoke-test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyro
import torch

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit, resolve_device
from pyrogen.models import InfoVAE
from pyrogen.objectives import BetaELBO, InfoVAE_ELBO


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    train = load(args.dataset, "train", root=args.data_root)
    test = load(args.dataset, "test", root=args.data_root)
    x, x_test, epochs = train.x, test.x[:1000], args.epochs
    if args.smoke_test:
        x, x_test, epochs = x[:256], x_test[:64], 1
    vae = InfoVAE(
        x.shape[1:],
        z_dim=args.z_dim,
        hidden=(256,),
        arch="conv",
        act="relu",
        likelihood="continuous_bernoulli",
        alpha=args.alpha,
        lambda_=args.lambda_,
    )
    fit(
        SVITrainer(vae, InfoVAE_ELBO.for_model(vae), lr=args.lr),
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
    elbo = BetaELBO(beta=0.0)
    recon = -elbo.loss(vae.model, vae.guide, x_test) / len(x_test)
    info = InfoVAE_ELBO.for_model(vae)
    info.loss(vae.model, vae.guide, x_test)
    kl = elbo.last_terms["kl_per_example"]
    print(
        f"test E log p(x|z) {recon:.1f} nats, KL(q(z|x)||p(z)) {kl:.1f} nats, "
        f"MMD^2(q(z), p(z)) {info.last_terms['mmd']:.4f}"
    )
    if args.out:
        out = Path(args.out)
        plots.save_image_grid(vae.sample(64, mean=True), out / "samples.png")
        with torch.no_grad():
            plots.save_reconstructions(x_test, vae.reconstruct(x_test), out / "recon.png")
    return {"recon": recon, "kl": kl, "mmd": info.last_terms["mmd"]}


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="digits")
parser.add_argument("--data-root", default=None)
parser.add_argument("--alpha", type=float, default=1.0)
parser.add_argument("--lambda", dest="lambda_", type=float, default=1000.0)
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=100)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--z-dim", type=int, default=8)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="run directory for checkpoints and figures")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
