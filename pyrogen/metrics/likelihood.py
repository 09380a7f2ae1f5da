r"""Importance-sampled marginal likelihood and bits per dimension.

log p(x) = log E_{q(z|x)}[p(x, z) / q(z|x)]
         ~ logsumexp_s [log p(x, z_s) - log q(z_s|x)] - log S,   z_s ~ q(z|x),

a consistent estimator that lower-bounds log p(x) in expectation and tightens as S grows
(Burda et al. 2016, eq. (8) with k = S). Particles are drawn in chunks and combined with a
running logsumexp, so memory is bounded by ``chunk_size * batch_size`` whatever S is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import prune_subsample_sites


def _weights(
    model: Callable[..., Any], guide: Callable[..., Any], x: torch.Tensor, particles: int
) -> torch.Tensor:
    """log p(x, z) - log q(z | x) for ``particles`` draws: ``(particles, B)``."""
    # The data plate is dim -1 by convention; particles go to dim -2.
    plate = pyro.plate("_is_particles", particles, dim=-2)
    guide_tr = poutine.trace(plate(guide)).get_trace(x)
    model_tr = poutine.trace(poutine.replay(plate(model), trace=guide_tr)).get_trace(x)
    log_w = torch.zeros(particles, x.shape[0], device=x.device)
    for tr, sign in ((model_tr, 1.0), (guide_tr, -1.0)):
        tr = prune_subsample_sites(tr)
        tr.compute_log_prob()
        for name, site in tr.nodes.items():
            if site["type"] != "sample":
                continue
            if not any(f.name == "data" for f in site["cond_indep_stack"]):
                raise ValueError(
                    f"log_likelihood needs every sample site inside pyro.plate('data'), but "
                    f"site {name!r} is outside it (a global latent has no per-example weight)"
                )
            log_w = log_w + sign * site["log_prob"].reshape(particles, -1)
    return log_w


@torch.no_grad()
def log_likelihood(
    model: Any,
    guide: Callable[..., Any] | None = None,
    x: torch.Tensor | None = None,
    num_samples: int = 5000,
    batch_size: int = 100,
    chunk_size: int = 500,
) -> torch.Tensor:
    r"""Per-example importance-sampled log p(x), in nats.

    Args:
        model: the model callable ``model(x)``, or a module with ``model`` and ``guide``
            methods (then ``guide`` may be omitted and ``x`` given as the second argument).
        guide: the proposal ``guide(x)``; every sample site must be inside
            ``pyro.plate("data")`` (dim -1).
        x: observations ``(N, ...)``.
        num_samples: importance samples S per example (5000 as in Burda et al.).
        batch_size: examples per pass.
        chunk_size: particles per pass; peak memory scales with
            ``chunk_size * batch_size``, not with ``num_samples``.

    Returns:
        ``(N,)`` tensor of log p(x) estimates.

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016,
        Appendix / eq. (8). https://arxiv.org/abs/1509.00519
    """
    if guide is not None and not callable(guide) and x is None:
        x, guide = guide, None
    if guide is None:
        guide = model.guide
        model = model.model
    if x is None:
        raise ValueError("log_likelihood needs observations x (N, ...), got None")
    if num_samples < 1 or batch_size < 1 or chunk_size < 1:
        raise ValueError(
            f"expected positive num_samples, batch_size, chunk_size; got "
            f"{num_samples}, {batch_size}, {chunk_size}"
        )
    out = []
    with pyro.validation_enabled(False):
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            total = torch.full((xb.shape[0],), -math.inf, device=x.device)
            done = 0
            while done < num_samples:
                k = min(chunk_size, num_samples - done)
                lw = _weights(model, guide, xb, k)
                total = torch.logaddexp(total, torch.logsumexp(lw, dim=0))
                done += k
            out.append(total - math.log(num_samples))
    return torch.cat(out)


def bits_per_dim(log_px: torch.Tensor, num_dims: int, bins: int | None = None) -> torch.Tensor:
    r"""Converts log-likelihoods (nats) to bits per dimension: -log p(x) / (D log 2).

    For a density on data rescaled from ``bins`` discrete levels to [0, 1]
    (dequantization), pass ``bins`` to add the change-of-variables term D log(bins), so the
    result is the discrete model's bits/dim (Theis et al. 2016; Dinh et al. 2017, sec. 4.1).
    """
    nll = -log_px
    if bins is not None:
        nll = nll + num_dims * math.log(bins)
    return nll / (num_dims * math.log(2.0))
