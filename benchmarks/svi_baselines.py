"""The contestants of ``svi_step.py`` that are not pyrogen: the same VAE written by hand in
PyTorch and in NumPyro, and the GEMM-only ceiling of one training step.

The hand-written objective is the one a careful PyTorch user writes: explicit log-densities
(no distribution objects, no argument validation), noise ``(K, B, D)`` drawn at once, the
ELBO averaged over particles or the IWAE bound ``logsumexp_k log w_k - log K``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

X_DIM, HIDDEN, Z_DIM = 784, 400, 20
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class HandVAE(nn.Module):
    """VAE 784-400-20 with ReLU and a Bernoulli decoder, in plain PyTorch."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(X_DIM, HIDDEN)
        self.mu = nn.Linear(HIDDEN, Z_DIM)
        self.sigma = nn.Linear(HIDDEN, Z_DIM)
        self.dec1 = nn.Linear(Z_DIM, HIDDEN)
        self.dec2 = nn.Linear(HIDDEN, X_DIM)

    def log_w(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log p(x, z) - log q(z | x) for K draws: ``(K, B)``."""
        h = F.relu(self.enc(x))
        loc, scale = self.mu(h), F.softplus(self.sigma(h)) + 1e-4
        eps = torch.randn(k, *loc.shape)
        z = loc + scale * eps
        logits = self.dec2(F.relu(self.dec1(z)))
        log_px = -F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)
        log_pz = (-0.5 * z.square() - HALF_LOG_2PI).sum(-1)
        log_qz = (-0.5 * eps.square() - scale.log() - HALF_LOG_2PI).sum(-1)
        return log_px + log_pz - log_qz

    def loss(self, x: torch.Tensor, k: int, kind: str) -> torch.Tensor:
        log_w = self.log_w(x, k)
        if kind == "iwae":
            return -(torch.logsumexp(log_w, 0) - math.log(k)).mean()
        return -log_w.mean()


def hand_step(
    k: int, kind: str, fused: bool, compiled: bool = False
) -> Callable[[torch.Tensor], None]:
    """One Adam step on the hand-written VAE; ``compiled``: the loss under ``torch.compile``
    (forward and backward graphs compiled, as a PyTorch user would do it)."""
    model = HandVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    loss = torch.compile(model.loss) if compiled else model.loss

    def step(x: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss(x, k, kind).backward()
        opt.step()

    return step


def gemm_shapes(batch: int, k: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product in one forward + backward pass."""
    bk = batch * k
    layers = [  # (rows, in, out, needs input grad)
        (batch, X_DIM, HIDDEN, False),
        (batch, HIDDEN, Z_DIM, True),
        (batch, HIDDEN, Z_DIM, True),
        (bk, Z_DIM, HIDDEN, True),
        (bk, HIDDEN, X_DIM, True),
    ]
    shapes = []
    for rows, i, o, input_grad in layers:
        shapes.append((rows, i, o))  # forward
        shapes.append((o, rows, i))  # weight gradient
        if input_grad:
            shapes.append((rows, o, i))
    return shapes


def gemm_ceiling(batch: int, k: int, rounds: int) -> float:
    """Steps per second if a step cost only its GEMMs (median over ``rounds``)."""
    mats = [(torch.randn(m, kk), torch.randn(kk, n)) for m, kk, n in gemm_shapes(batch, k)]
    outs = [torch.empty(a.shape[0], b.shape[1]) for a, b in mats]
    times = []
    for _ in range(rounds + 1):
        reps, t0 = 0, time.perf_counter()
        while reps < 3 or time.perf_counter() - t0 < 0.2:
            for (a, b), o in zip(mats, outs):
                torch.mm(a, b, out=o)
            reps += 1
        times.append((time.perf_counter() - t0) / reps)
    return 1.0 / statistics.median(times[1:])


def numpyro_version() -> str:
    try:
        import jax
        import numpyro
    except ImportError:
        return "numpyro not installed"
    return f"numpyro {numpyro.__version__}, jax {jax.__version__}"


def numpyro_step(k: int, kind: str, batches: list[torch.Tensor]) -> tuple | None:
    """A jitted NumPyro SVI update on the same network, or ``None`` without NumPyro.

    Returns ``(step, sync, batches)`` where ``sync`` blocks until the last update is done
    (jax dispatches asynchronously).
    """
    try:
        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as nd
        from numpyro.infer import SVI, RenyiELBO, Trace_ELBO
        from numpyro.optim import Adam
    except ImportError:
        return None

    def linear(name: str, h, i: int, o: int):
        bound = 1 / math.sqrt(i)
        w = numpyro.param(
            f"{name}_w", lambda key: jax.random.uniform(key, (i, o), minval=-bound, maxval=bound)
        )
        b = numpyro.param(
            f"{name}_b", lambda key: jax.random.uniform(key, (o,), minval=-bound, maxval=bound)
        )
        return h @ w + b

    def model(x):
        with numpyro.plate("data", x.shape[0]):
            z = numpyro.sample("z", nd.Normal(jnp.zeros(Z_DIM), 1.0).to_event(1))
            logits = linear("dec2", jax.nn.relu(linear("dec1", z, Z_DIM, HIDDEN)), HIDDEN, X_DIM)
            numpyro.sample("x", nd.Bernoulli(logits=logits).to_event(1), obs=x)

    def guide(x):
        h = jax.nn.relu(linear("enc", x, X_DIM, HIDDEN))
        loc = linear("mu", h, HIDDEN, Z_DIM)
        scale = jax.nn.softplus(linear("sigma", h, HIDDEN, Z_DIM)) + 1e-4
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample("z", nd.Normal(loc, scale).to_event(1))

    # RenyiELBO with alpha = 0 is NumPyro's K-sample importance weighted bound.
    loss = Trace_ELBO(num_particles=k) if kind == "elbo" else RenyiELBO(0.0, num_particles=k)
    svi = SVI(model, guide, Adam(1e-3), loss)
    data = [jnp.asarray(b.numpy()) for b in batches]
    state = [svi.init(jax.random.PRNGKey(0), data[0])]
    update = jax.jit(svi.update)
    index = {id(b): j for j, b in enumerate(batches)}

    def step(x: torch.Tensor):
        state[0], loss_value = update(state[0], data[index[id(x)]])
        return loss_value

    def sync(out) -> None:
        jax.block_until_ready(out)

    return step, sync, batches
