r"""The ELBO split into a reconstruction term and per-unit analytic KL terms.

    ELBO(x) = E_q[log p(x | z)] - sum_sites KL(q(z_s | x) || p(z_s | ...)),

with each KL in closed form per latent unit where torch has it (Normal-Normal, ...) and a
one-sample Monte Carlo estimate log q(z) - log p(z) otherwise. The objectives that re-weight
or clamp the KL (KL warm-up, free bits, beta < 1) are built on this split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pyro import poutine
from pyro.distributions import Independent
from pyro.poutine.util import prune_subsample_sites
from torch.distributions import kl_divergence


@dataclass
class ELBOTerms:
    """``log_lik``: sum of observed log-densities, shape ``(B,)`` (B = data plate size);
    ``kl``: per site, the KL per example and latent unit, shape ``(B, *event_shape)``
    (``(B,)`` for sites without a closed form)."""

    log_lik: torch.Tensor
    kl: dict[str, torch.Tensor]

    @property
    def total_kl(self) -> torch.Tensor:
        """Sum of every site's KL per example, ``(B,)``."""
        out = torch.zeros_like(self.log_lik)
        for value in self.kl.values():
            out = (
                out + value.reshape(value.shape[0], -1).sum(-1) if value.dim() > 1 else out + value
            )
        return out


def _unwrap(d: Any) -> tuple[Any, int]:
    """Strips ``Independent`` wrappers, returning the base and the event dims removed."""
    dims = 0
    while isinstance(d, Independent):
        dims += d.reinterpreted_batch_ndims
        d = d.base_dist
    return d, dims


def _per_example(name: str, t: torch.Tensor, batch: int) -> torch.Tensor:
    """Checks that a site's log-density has one value per example, ``(B,)``."""
    if t.shape != (batch,):
        raise ValueError(
            f"site {name!r}: expected a log-density of shape ({batch},), one per example in "
            f"pyro.plate('data') with the rest as event dims, got {tuple(t.shape)}"
        )
    return t


def elbo_terms(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> ELBOTerms:
    """Traces ``guide`` once, replays ``model`` on it, and splits the ELBO (one particle).

    Latent sites must sit in the data plate (dim -1) with their unit axes as event dims.
    """
    guide_tr = prune_subsample_sites(poutine.trace(guide).get_trace(*args, **kwargs))
    model_tr = prune_subsample_sites(
        poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args, **kwargs)
    )
    batch = None
    for site in model_tr.nodes.values():
        if site["type"] == "sample" and site["is_observed"]:
            fn: Any = site["fn"]
            shape = fn.batch_shape
            batch = shape[-1] if len(shape) else 1
            break
    if batch is None:
        raise ValueError("elbo_terms needs a model with an observed sample site")
    log_lik = None
    kls: dict[str, torch.Tensor] = {}
    for name, site in model_tr.nodes.items():
        if site["type"] != "sample":
            continue
        if site["is_observed"]:
            obs_fn: Any = site["fn"]
            term = _per_example(name, obs_fn.log_prob(site["value"]), batch)
            log_lik = term if log_lik is None else log_lik + term
            continue
        if name not in guide_tr.nodes:
            raise ValueError(f"latent site {name!r} of the model is missing from the guide")
        q_fn: Any = guide_tr.nodes[name]["fn"]
        p_fn: Any = site["fn"]
        q_base, _ = _unwrap(q_fn)
        p_base, _ = _unwrap(p_fn)
        try:
            kl = kl_divergence(q_base, p_base)  # (B, *event_shape): one value per unit
            kl = kl.expand(q_base.batch_shape)
        except NotImplementedError:
            value = site["value"]
            kl = _per_example(name, q_fn.log_prob(value) - p_fn.log_prob(value), batch)
        kls[name] = kl
    assert log_lik is not None
    return ELBOTerms(log_lik=log_lik, kl=kls)
