"""Training-step throughput on a user's own model: the README's VAE, written in Pyro syntax.

The model is the README's example verbatim (a PyroModule with plain ``nn.Sequential``
networks, 784-400-20, ReLU, Bernoulli), not a pyrogen model, so pyrogen's built-in VAE path
cannot apply: ``SVITrainer`` takes its general tracing-free objective
(:mod:`pyrogen.infer.tracing_free`), which the trainer checks against Pyro's value on the
first batch. Contestants, interleaved in rounds in one process on the same batches of fixed
binarized MNIST, each minimizing the single-sample negative ELBO with Adam(1e-3):

* pyrogen ``SVITrainer`` (default; and ``fast=False``, Pyro's own traced ``Trace_ELBO``);
* the same network written by hand in PyTorch with fused Adam (explicit log-densities, no
  distribution objects: the strongest eager baseline), and with the default Adam;
* Pyro's ``SVI`` with ``pyro.optim.Adam``, the model registered by ``pyro.module``;
* NumPyro's ``SVI.update`` under ``jax.jit`` on a copy of the network (``bench`` extra);
* with ``--compiled``: the hand-written loss and pyrogen's tracing-free objective each under
  ``torch.compile`` (compiled against compiled; the trainer does not offer the latter).

A second table times the loss alone (no gradient, no optimizer) on the README's own modules:
the tracing-free objective, which runs the model and guide through Pyro's ``plate`` and
``sample`` statements, against the same log-densities written by hand on the same networks
with the same noise. The difference is what Pyro's statements and distribution objects
cost per step, which no implementation that runs the user's Pyro code can avoid.

The table reports median steps per second over rounds and the *paired ratio* to the
hand-written fused-Adam loop (the median over rounds of the ratio within a round)::

    python benchmarks/user_vae_step.py --rounds 25 --seconds 0.3 --threads 2 \\
        --data-root ../shared/data --out benchmarks/results/user_vae_step.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import pyro
import pyro.distributions as dist
import svi_baselines as nets
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.nn import PyroModule
from svi_step import _no_sync, pin_to_cores, race, run_conditions, write_report
from torch import nn
from torch.nn import functional as F

from pyrogen.data import load
from pyrogen.infer import SVITrainer
from pyrogen.infer.tracing_free import TracingFree_ELBO


class ReadmeVAE(PyroModule):
    """The README's example, unchanged."""

    def __init__(self, z: int = 20):
        super().__init__()
        self.z, self.enc = (
            z,
            nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * z)),
        )
        self.dec = nn.Sequential(
            nn.Linear(z, 400), nn.ReLU(), nn.Linear(400, 784), nn.Unflatten(-1, (1, 28, 28))
        )

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.z), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(3), obs=x)

    def guide(self, x):
        loc, s = self.enc(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(s) + 1e-4).to_event(1))


def pyrogen_step(fast: bool, first: torch.Tensor, expect: str):
    trainer = SVITrainer(ReadmeVAE(), Trace_ELBO(), lr=1e-3, fast=fast)
    trainer.step(first)  # the first batch decides (and checks) the path
    assert trainer.path == expect, (trainer.path, trainer.path_reason)
    return trainer.step


def compiled_tracing_free_step():
    """pyrogen's tracing-free objective under ``torch.compile``, fused Adam (Dynamo breaks
    the graph at Pyro's plates; each piece is compiled)."""
    vae = ReadmeVAE()
    elbo = TracingFree_ELBO()
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3, fused=True)
    loss = torch.compile(lambda x: elbo.differentiable_loss(vae.model, vae.guide, x))

    def step(x):
        opt.zero_grad(set_to_none=True)
        loss(x).backward()
        opt.step()

    return step


def loss_by_hand(vae: ReadmeVAE, x: torch.Tensor) -> torch.Tensor:
    """-ELBO of the README's VAE, one draw, written by hand on its own modules:
    -[log p(x|z) + log N(z; 0, I) - log N(z; loc, scale)], z = loc + scale * eps."""
    loc, s = vae.enc(x).chunk(2, -1)  # (B, z) each
    scale = F.softplus(s) + 1e-4
    eps = torch.randn_like(loc)
    z = loc + scale * eps
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    log_q = (-0.5 * eps.square() - scale.log() - half_log_2pi).sum()
    log_prior = (-0.5 * z.square() - half_log_2pi).sum()
    log_lik = -F.binary_cross_entropy_with_logits(vae.dec(z), x, reduction="sum")
    return -(log_lik + log_prior - log_q)


def forward_cost(batch: torch.Tensor, rounds: int, seconds: float) -> dict[str, float]:
    """Median microseconds per loss evaluation (no gradient), interleaved rounds: the
    tracing-free objective against the hand-written log-densities on the same modules."""
    vae, elbo = ReadmeVAE(), TracingFree_ELBO()
    funcs = {
        "tracing-free objective (Pyro's plate and sample statements)": lambda: (
            elbo.differentiable_loss(vae.model, vae.guide, batch)
        ),
        "the same log-densities by hand, same modules": lambda: loss_by_hand(vae, batch),
    }
    with torch.no_grad():
        values = []
        for f in funcs.values():  # the same noise: the same value
            torch.manual_seed(0)
            values.append(float(f()))
        assert abs(values[0] - values[1]) < 1e-4 * abs(values[1]), values
        times: dict[str, list[float]] = {k: [] for k in funcs}
        for r in range(rounds + 1):
            for name, f in funcs.items():
                n, start = 0, time.perf_counter()
                while n < 5 or time.perf_counter() - start < seconds:
                    f()
                    n += 1
                if r:
                    times[name].append((time.perf_counter() - start) / n * 1e6)
    return {k: statistics.median(v) for k, v in times.items()}


def ops_per_step(step, batch: torch.Tensor, steps: int = 10) -> float:
    """Top-level aten operations per training step (those not called by another aten
    operation), counted by the torch profiler over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(batch)
    top = [
        e
        for e in prof.events()
        if e.name.startswith("aten::")
        and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))
    ]
    return len(top) / steps


def pyro_svi_step():
    vae = ReadmeVAE()

    def model(x):
        pyro.module("vae", vae)
        vae.model(x)

    def guide(x):
        pyro.module("vae", vae)
        vae.guide(x)

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())

    def step(x):
        with pyro.settings.context(module_local_params=False):
            svi.step(x)

    return step


def main(args: argparse.Namespace) -> str:
    pinned = pin_to_cores(args.threads)  # before jax starts its thread pool
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pyro.settings.set(module_local_params=True)
    x = load("binarized_mnist", "train", root=args.data_root).x[:10240]
    b = args.batch_size
    batches = [x[i : i + b] for i in range(0, len(x) - b + 1, b)][:20]
    flat = [t.reshape(t.shape[0], -1) for t in batches]
    base = "hand-written PyTorch, fused Adam"
    c = {
        base: (nets.hand_step(1, "elbo", fused=True), _no_sync, flat),
        "hand-written PyTorch, default Adam": (nets.hand_step(1, "elbo", False), _no_sync, flat),
        "pyrogen SVITrainer (default)": (
            pyrogen_step(True, batches[0], "tracing-free"),
            _no_sync,
            batches,
        ),
        "pyrogen SVITrainer (fast=False: Pyro's Trace_ELBO)": (
            pyrogen_step(False, batches[0], "pyro"),
            _no_sync,
            batches,
        ),
        "Pyro SVI (pyro.module, pyro.optim.Adam)": (pyro_svi_step(), _no_sync, batches),
    }
    npy = nets.numpyro_step(1, "elbo", flat) if not args.no_numpyro else None
    if npy is not None:
        c["NumPyro SVI (jax.jit)"] = npy
    if args.compiled:
        c["hand-written PyTorch, fused Adam, torch.compile"] = (
            nets.hand_step(1, "elbo", fused=True, compiled=True),
            _no_sync,
            flat,
        )
        c["pyrogen tracing-free objective, torch.compile"] = (
            compiled_tracing_free_step(),
            _no_sync,
            batches,
        )
    with pyro.validation_enabled(False):
        rates = race(c, args.rounds, args.seconds)
        cost = forward_cost(batches[0], args.rounds, args.seconds)
        ops = {
            name: ops_per_step(c[name][0], c[name][2][0])
            for name in (base, "pyrogen SVITrainer (default)")
        }
    rows = [
        "| contestant | median steps/s | range | paired ratio to hand-written fused Adam |",
        "|---|---:|---:|---:|",
    ]
    ref = rates[base]
    for name, rs in rates.items():
        paired = statistics.median(r / e for r, e in zip(rs, ref))
        rows.append(
            f"| {name} | {statistics.median(rs):.3g} | {min(rs):.3g}-{max(rs):.3g} | "
            f"{paired:.2f}x |"
        )
    ours = rates["pyrogen SVITrainer (default)"]
    vs = {
        name: statistics.median(r / o for r, o in zip(rates[name], ours))
        for name in rates
        if name != "pyrogen SVITrainer (default)"
    }
    step_us = 1e6 / statistics.median(ref)
    pyro_us = cost["tracing-free objective (Pyro's plate and sample statements)"]
    extra_us = pyro_us - cost["the same log-densities by hand, same modules"]
    cost_rows = [
        "| loss evaluation, no gradient | median µs |",
        "|---|---:|",
        *(f"| {name} | {us:.0f} |" for name, us in cost.items()),
    ]
    text = (
        "# Training-step throughput on the README's user VAE\n\n"
        f"`python benchmarks/user_vae_step.py {' '.join(args.argv)}`\n\n"
        f"The README's VAE (784-400-20, ReLU, Bernoulli) at batch {b}, fixed binarized MNIST; "
        f"{run_conditions(args, pinned)}\n\n"
        + "\n".join(rows)
        + "\n\npyrogen's default against each (paired, > 1 means pyrogen is faster): "
        + ", ".join(f"{name} {1 / r:.2f}x" for name, r in vs.items())
        + ".\n\n## What running the user's Pyro code costs\n\n"
        + "\n".join(cost_rows)
        + f"\n\nPyro's statements and distribution objects: {extra_us:.0f} µs per evaluation, "
        f"{extra_us / step_us:.1%} of the hand-written fused-Adam step ({step_us:.0f} µs). "
        "Tensor operations per training step (top-level aten operations, torch profiler): "
        + ", ".join(f"{name} {n:.0f}" for name, n in ops.items())
        + ".\n"
    )
    print(text)
    return write_report(args.out, text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--seconds", type=float, default=0.3, help="per contestant per round")
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--no-numpyro", action="store_true")
parser.add_argument(
    "--compiled", action="store_true", help="add the torch.compile contestants (slow to start)"
)
parser.add_argument("--data-root", default=None)
parser.add_argument("--out", default=None)

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    main(ns)
