"""Binarized MNIST: test NLL of a VAE with a Gaussian, planar (K = 4, 16) and IAF guide.

Every model gets the same budget: the same architecture, number of Adam steps, batch size,
learning rate and seed. The test NLL is the importance-sampled estimate
``-log (1/S) sum_s p(x, z_s) / q(z_s | x)`` with ``z_s ~ q(z | x)`` (the flow guide itself is
the proposal), on a random subset of the test split (the split is sorted by digit).

Run by hand (not in CI)::

    python -m benchmarks.flows_mnist --steps 4000 --test-size 2000 --num-samples 500

It writes ``benchmarks/results/flows_mnist.md``. ``--configs`` runs a subset (e.g. in two
processes); every finished model is recorded in ``benchmarks/results/flows_mnist.json`` and
the table is rebuilt from all recorded models.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pyro
import torch
from pyro.infer import Trace_ELBO

from pyrogen.infer import SVITrainer
from pyrogen.models import VAE

DATA = Path("/work/shared/data/binarized_mnist/binarized_mnist.npz")
CONFIGS = {
    "vae": ("vae", None, 0),
    "planar4": ("planar", "planar", 4),
    "planar16": ("planar", "planar", 16),
    "iaf4": ("iaf", "iaf", 4),
}
RESULTS = Path(__file__).parent / "results"


@torch.no_grad()
def is_log_likelihood(vae: VAE, x: torch.Tensor, num_samples: int, chunk: int = 100):
    """Per-example importance-sampled log p(x) with the guide as proposal, ``(B,)``."""
    out = []
    for xb in x.split(chunk):
        q = vae.posterior(xb)
        z = q.rsample((num_samples,))  # (S, B, D)
        log_q = q.log_prob(z)
        log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        logits = vae.decode(z).reshape(num_samples, xb.shape[0], -1)
        log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, xb.expand(num_samples, -1, -1), reduction="none"
        ).sum(-1)
        log_w = log_px + log_pz - log_q
        out.append(torch.logsumexp(log_w, 0) - math.log(num_samples))
    return torch.cat(out)


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    data = np.load(args.data)
    train = torch.from_numpy(data["train"]).float()
    test_all = torch.from_numpy(data["test"]).float()
    gen = torch.Generator().manual_seed(0)
    test = test_all[torch.randperm(len(test_all), generator=gen)[: args.test_size]]
    for key in args.configs:
        name, flow, k = CONFIGS[key]
        pyro.set_rng_seed(args.seed)
        vae = VAE((784,), z_dim=args.z_dim, hidden=(200, 200), flow=flow, flow_length=max(k, 1))
        trainer = SVITrainer(vae, Trace_ELBO(), lr=args.lr)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
        start = time.perf_counter()
        for step in range(args.steps):
            i = (step * args.batch_size) % (len(train) - args.batch_size + 1)
            if i < args.batch_size and step:
                order = order[torch.randperm(len(order))]
            loss = trainer.step(train[order[i : i + args.batch_size]])["loss"]
            if step % 500 == 0:
                print(f"{name} K={k} step {step} loss {float(loss):.2f}", flush=True)
        seconds = time.perf_counter() - start
        vae.eval()
        pyro.set_rng_seed(1)
        elbo = torch.cat([trainer.evaluate(xb)["loss"].reshape(1) for xb in test.split(500)])
        nll = -is_log_likelihood(vae, test, args.num_samples)
        n_params = sum(p.numel() for p in vae.parameters())
        row = [name, k, n_params, seconds, float(elbo.mean()), float(nll.mean())]
        row += [float(nll.std() / math.sqrt(len(nll))), args.steps, args.test_size]
        row += [args.num_samples]
        print(row, flush=True)
        record(args, f"{key}@{args.steps}", row)


def record(args: argparse.Namespace, key: str, row: list) -> None:
    """Adds one model's row to the JSON record (re-read: other processes may write too)."""
    path = RESULTS / "flows_mnist.json"
    rows = json.loads(path.read_text()) if path.exists() else {}
    rows[key] = row
    path.write_text(json.dumps(rows, indent=1))
    # Grouped by budget (steps), then in the order of CONFIGS.
    order = {k: i for i, k in enumerate(CONFIGS)}
    keys = sorted(rows, key=lambda k: (-rows[k][7], order[k.split("@")[0]]))
    write(args, [rows[k] for k in keys])


def write(args: argparse.Namespace, rows: list) -> None:
    lines = [
        "# Binarized MNIST: VAE vs planar-flow vs IAF guides at equal budget",
        "",
        "Command for one budget (the models may run in separate processes with "
        "`--configs`): `python -m benchmarks.flows_mnist --steps STEPS --test-size TEST "
        "--num-samples S`",
        "",
        f"Budget per model: STEPS Adam steps (lr {args.lr}, batch {args.batch_size}; 500 "
        "steps = 1 epoch of the 50k training split), Trace_ELBO with 1 sample, seed "
        f"{args.seed}; MLP 784-200-200-{args.z_dim} encoder and decoder (tanh), Bernoulli "
        f"likelihood, {args.threads} CPU thread per run on a shared 2-core machine under heavy "
        "load from other jobs (train time is wall-clock; compare it only within one budget). "
        "Test: a random subset of TEST fixed-binarization test images (seed 0); NLL = "
        "importance-sampled -log p(x) with S samples from the guide (nats, lower is better; "
        "+- one standard error over images). Planar/IAF: flows amortized from the encoder's "
        "last hidden layer; IAF steps are MADEs with two hidden layers of 2*z_dim.",
        "",
        "| steps | guide | K | parameters | train time (s) | TEST | S | test -ELBO "
        "| test NLL (IS) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, k, n, sec, elbo, nll, se, steps, test, s in rows:
        cells = [steps, name, k or "-", f"{n:,}", f"{sec:.0f}", test, s, f"{elbo:.2f}"]
        cells += [f"{nll:.2f} +- {se:.2f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    out = RESULTS / "flows_mnist.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--z-dim", type=int, default=40)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    main(parser.parse_args())
