r"""Summed log-densities of the commonest sites, in fewer kernels than ``log_prob().sum()``.

A training step of a small model spends much of its time launching kernels, not in them.
For the sites most models are made of, the *sum* over every element that the ELBO needs is
computed directly, with the same value as ``fn.log_prob(value).sum()`` up to the order of
float additions:

* Bernoulli with logits l: ``sum log p = -sum BCE-with-logits(l, x)``, one fused reduction;
* Normal: ``sum [-((x - mu) / sigma)^2 / 2 - log sigma - log(2 pi) / 2]``;
* a Normal drawn by reparameterization z = mu + sigma * eps: ``sum [-eps^2 / 2 - log sigma
  - log(2 pi) / 2]``, the same function of (mu, sigma) as the density at z, without
  recomputing (z - mu) / sigma (the noise is drawn exactly as ``Normal.rsample`` draws it).

Each is returned negated and split as ``(tensor, constant)``: the ELBO adds the
``n log(2 pi) / 2`` of every Normal site as one Python number instead of a kernel per site.
Every other distribution, and any site with a mask, takes ``log_prob``.
"""

from __future__ import annotations

import math
from typing import Any

import pyro.distributions as dist
import torch
import torch.nn.functional as F

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _base(fn: Any) -> Any:
    """The distribution under an ``Independent`` wrapper (sums do not care about events)."""
    return fn.base_dist if type(fn) is dist.Independent else fn


def reparam_normal(fn: Any) -> dist.Normal | None:
    """The Normal a site draws from, when its draw can be taken as loc + scale * eps."""
    base = _base(fn)
    return base if type(base) is dist.Normal else None


def draw_normal(normal: dist.Normal, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z, eps)`` with z = loc + eps * scale, eps drawn as ``Normal.rsample`` draws it
    (one standard-normal fill of ``shape`` from the global generator)."""
    loc = normal.loc
    eps = torch.randn(shape, dtype=loc.dtype, device=loc.device)
    return torch.addcmul(loc, eps, normal.scale), eps


def _log_scale_sum(scale: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """sum log sigma over ``shape`` (sigma broadcast to it)."""
    return (scale if scale.shape == shape else scale.expand(shape)).log().sum()


def neg_log_normal_at_noise(normal: dist.Normal, eps: torch.Tensor) -> tuple[torch.Tensor, float]:
    """-sum log N(loc + scale * eps; loc, scale) over every element of ``eps``, as
    ``(tensor, constant)``: ``sum [eps^2 / 2 + log sigma]`` and ``n log(2 pi) / 2``."""
    terms = torch.add(_log_scale_sum(normal.scale, eps.shape), eps.square().sum(), alpha=0.5)
    return terms, _HALF_LOG_2PI * eps.numel()


def neg_log_prob_sum(fn: Any, value: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``-fn.log_prob(value).sum()`` as ``(tensor, constant)``, the constant being the part
    that depends on no tensor (kept as a Python number, so that the constants of all sites
    are added once); specialized for Bernoulli(logits) and Normal."""
    base = _base(fn)
    kind = type(base)
    if kind is dist.Bernoulli and "logits" in base.__dict__:
        logits = base.logits
        if value.shape != logits.shape:
            logits, value = torch.broadcast_tensors(logits, value)
        return F.binary_cross_entropy_with_logits(logits, value, reduction="sum"), 0.0
    if kind is dist.Normal:
        loc, scale = base.loc, base.scale
        d = (value - loc) / scale
        terms = torch.add(_log_scale_sum(scale, d.shape), d.square().sum(), alpha=0.5)
        return terms, _HALF_LOG_2PI * d.numel()
    return fn.log_prob(value).sum().neg(), 0.0
