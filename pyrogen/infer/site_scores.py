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
    """``(z, eps)`` with z = loc + eps * scale, eps drawn as ``Normal.rsample`` draws it."""
    loc = normal.loc
    eps = torch.empty(shape, dtype=loc.dtype, device=loc.device).normal_()
    return loc + eps * normal.scale, eps


def log_normal_at_noise_sum(normal: dist.Normal, eps: torch.Tensor) -> torch.Tensor:
    """sum log N(loc + scale * eps; loc, scale) over every element of ``eps``."""
    scale = normal.scale.expand(eps.shape)
    return -0.5 * eps.square().sum() - scale.log().sum() - _HALF_LOG_2PI * eps.numel()


def log_prob_sum(fn: Any, value: torch.Tensor) -> torch.Tensor:
    """``fn.log_prob(value).sum()``, specialized for Bernoulli(logits) and Normal."""
    base = _base(fn)
    kind = type(base)
    if kind is dist.Bernoulli and "logits" in base.__dict__:
        logits = base.logits
        if value.shape != logits.shape:
            logits, value = torch.broadcast_tensors(logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="sum")
    if kind is dist.Normal:
        loc, scale = base.loc, base.scale
        lp = -0.5 * ((value - loc) / scale).square() - scale.log()
        return lp.sum() - _HALF_LOG_2PI * lp.numel()
    return fn.log_prob(value).sum()
