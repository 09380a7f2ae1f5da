r"""ELBO surgery: the average KL term split into index-code mutual information and marginal KL.

With the aggregate posterior q(z) = (1/N) sum_n q(z | x_n) over N examples,

    (1/N) sum_n KL(q(z|x_n) || p(z))  =  I_q(n; z)  +  KL(q(z) || p(z)),
    I_q(n; z) = (1/N) sum_n KL(q(z|x_n) || q(z))  in [0, log N]

(Hoffman & Johnson 2016, eq. (3)-(4)). A large marginal KL means the prior does not match the
codes the encoder uses; the mutual information is capped by log N whatever the encoder.

Estimator: S draws z_{s,n} ~ q(z|x_n) per example; log q(z) is the exact N-component
mixture log (1/N) sum_m q(z|x_m) evaluated at every draw (O(S N^2) guide evaluations), and
each term is the Monte Carlo mean of its log-ratio over the same draws:

    avg KL = E[log q(z|x_n) - log p(z)],   MI = E[log q(z|x_n) - log q(z)],
    marginal KL = E[log q(z) - log p(z)].

The identity then holds exactly for the estimates, each term is consistent as S grows, and
the per-draw MI ratio is at most log N, so the estimated MI is too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import prune_subsample_sites

_PARTICLES = "_surgery_particles"
_POOL = "_surgery_pool"


@dataclass
class ElboSurgery:
    """Terms of the ELBO-surgery identity, in nats per example.

    Attributes:
        avg_kl: (1/N) sum_n KL(q(z|x_n) || p(z)), the ELBO's KL term.
        mutual_info: index-code mutual information I_q(n; z).
        marginal_kl: KL(q(z) || p(z)) of the aggregate posterior.
        log_n: log N, the upper bound of ``mutual_info``.
    """

    avg_kl: float
    mutual_info: float
    marginal_kl: float
    log_n: float


def _log_prob_sum(trace: Any, latents: set[str] | None = None) -> torch.Tensor:
    total: torch.Tensor | float = 0.0
    for name, site in prune_subsample_sites(trace).nodes.items():
        if site["type"] != "sample" or (latents is not None and name not in latents):
            continue
        total = total + site["fn"].log_prob(site["value"])
    assert isinstance(total, torch.Tensor)
    return total


@torch.no_grad()
def elbo_surgery(
    model: Any, x: torch.Tensor, num_samples: int = 1, pool_chunk: int = 64
) -> ElboSurgery:
    r"""Estimates avg KL = MI + marginal KL over the examples ``x`` (the aggregate posterior is
    the mixture of q(z | x_n) over these N examples; see the module docstring).

    Args:
        model: a module with ``model(x)`` and ``guide(x)``; every sample site lies in
            ``pyro.plate("data")`` at dim -1, and both broadcast over a particle dim at -2.
        x: observations ``(N, ...)``, N >= 2. Cost grows as N^2: use a random subset of the
            data (Hoffman & Johnson use the training set; log N caps the MI).
        num_samples: draws S per example.
        pool_chunk: draws evaluated against all N posteriors at once (memory
            ``pool_chunk * N * latent size``).

    Returns:
        :class:`ElboSurgery`.

    References:
        ELBO surgery: yet another way to carve up the variational evidence lower bound,
        M. D. Hoffman, M. J. Johnson, 2016, NIPS Workshop on Advances in Approximate Bayesian
        Inference, eq. (3)-(4). http://approximateinference.org/2016/accepted/HoffmanJohnson2016.pdf
    """
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"elbo_surgery needs at least 2 examples, got {tuple(x.shape)}")
    if num_samples < 1 or pool_chunk < 1:
        raise ValueError(
            f"expected positive num_samples and pool_chunk, got {num_samples}, {pool_chunk}"
        )
    guide, prior = model.guide, model.model
    with pyro.validation_enabled(False):
        plate = pyro.plate(_PARTICLES, num_samples, dim=-2)
        guide_tr = poutine.trace(plate(guide)).get_trace(x)
        model_tr = poutine.trace(poutine.replay(plate(prior), trace=guide_tr)).get_trace(x)
        values = {
            name: site["value"]
            for name, site in prune_subsample_sites(guide_tr).nodes.items()
            if site["type"] == "sample"
        }
        log_q = _log_prob_sum(guide_tr).expand(num_samples, n)  # (S, N)
        log_p = _log_prob_sum(model_tr, set(values)).expand(num_samples, n)  # (S, N)
        # every draw (S * N of them) against every posterior q(. | x_m): (J, N) per chunk
        flat = {k: v.reshape(num_samples * n, *v.shape[2:]) for k, v in values.items()}
        log_agg = []
        for j in range(0, num_samples * n, pool_chunk):
            chunk = {k: v[j : j + pool_chunk] for k, v in flat.items()}
            size = next(iter(chunk.values())).shape[0]
            data = {k: v.unsqueeze(1).expand(size, n, *v.shape[1:]) for k, v in chunk.items()}
            pool = pyro.plate(_POOL, size, dim=-2)
            tr = poutine.trace(poutine.condition(pool(guide), data=data)).get_trace(x)
            log_agg.append(torch.logsumexp(_log_prob_sum(tr).expand(size, n), dim=1))
        log_qz = (torch.cat(log_agg) - math.log(n)).reshape(num_samples, n)
    return ElboSurgery(
        avg_kl=float((log_q - log_p).mean()),
        mutual_info=float((log_q - log_qz).mean()),
        marginal_kl=float((log_qz - log_p).mean()),
        log_n=math.log(n),
    )
