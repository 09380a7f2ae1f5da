"""Posterior collapse on the Gaussian toy and in a small VLAE, measured by active units.

Trains :class:`pyrogen.models.LinearGaussianVAE` (closed-form ELBO) on N(mu, Sigma) data
with a diagonal Sigma (every unit collapses) and with a rank-r off-diagonal part (r active
units), then :class:`pyrogen.models.WindowedARVAE` with a full-context and a windowed
autoregressive decoder (the first ignores z)::

    python examples/posterior_collapse.py --rank 2 --steps 1500
    python examples/posterior_collapse.py --smoke-test
"""

from __future__ import annotations

import argparse

import pyro
import torch

from pyrogen.data import collapse_gaussian, template_sequences
from pyrogen.infer import SVITrainer, resolve_device
from pyrogen.models import LinearGaussianVAE, WindowedARVAE


def active_units(loc: torch.Tensor, threshold: float = 0.01) -> int:
    """Burda et al. (2016): Cov_x(E_q[z_u | x]) > threshold."""
    return int((loc.var(0) > threshold).sum())


def linear_toy(rank: int, steps: int, device: torch.device) -> tuple[int, float]:
    gen = torch.Generator().manual_seed(1)
    x = collapse_gaussian(500, 6, rank, generator=gen, exact_moments=True).double().to(device)
    torch.manual_seed(0)
    vae = LinearGaussianVAE(6, 4, isotropic=True).double().to(device)
    opt = torch.optim.Adam(vae.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        (-vae.elbo(x).mean()).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return active_units(vae.encode(x)[0]), float(vae.kl(x).sum(-1).mean())


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    device = resolve_device(args.device)
    steps, ar_steps = (50, 20) if args.smoke_test else (args.steps, args.ar_steps)
    out = {}
    for rank in (0, args.rank):
        au, kl = linear_toy(rank, steps, device)
        print(f"linear Gaussian VAE, Sigma rank {rank}: active units {au}, KL {kl:.4f} nats")
        out[f"active_units_rank{rank}"] = au
    gen = torch.Generator().manual_seed(0)
    seqs = template_sequences(2000, generator=gen).to(device)
    for window in (None, args.window):
        pyro.set_rng_seed(0)
        model = WindowedARVAE(24, z_dim=4, window=window).to(device)
        trainer = SVITrainer(model, lr=2e-3)
        for _ in range(ar_steps):
            trainer.step(seqs[torch.randint(0, len(seqs), (100,), device=device)])
        with torch.no_grad():
            loc, scale = model.encode(seqs)
            kl = float((0.5 * (loc**2 + scale**2 - 1) - scale.log()).sum(-1).mean())
        name = "full context" if window is None else f"window {window}"
        print(f"VLAE, {name}: active units {active_units(loc)}, KL {kl:.3f} nats")
        out[f"kl_{name}"] = kl
    return out


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rank", type=int, default=2)
parser.add_argument("--steps", type=int, default=1500)
parser.add_argument("--ar-steps", type=int, default=1500)
parser.add_argument("--window", type=int, default=2)
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
