r"""VIMCO: the K-sample bound's score-function gradient with per-particle leave-one-out signals.

    grad L_K = sum_k E[ (L_K - L_K^{-k}) grad log q(z_k | x) + w~_k grad log w_k ],

    L_K^{-k} = log (1/K) ( sum_{j != k} w_j + exp( (1/(K-1)) sum_{j != k} log w_j ) ),

where the k-th weight is replaced by the geometric mean of the others, so the baseline
L_K^{-k} does not depend on z_k and the estimator stays unbiased.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from pyrogen.objectives.particles import ParticleELBO


class VIMCO_ELBO(ParticleELBO):
    r"""grad = sum_k (L_K - L_K^{-k}) grad log q(z_k | x) + w~_k grad log w_k: VIMCO.

    ``loss = -sum_b [logsumexp_k log w_{k,b} - log K]`` as for
    :class:`~pyrogen.objectives.IWAE_ELBO`, but every latent (discrete or not) is treated by the
    log-derivative trick: z is sampled and detached, and each particle's score is weighted by
    its own learning signal L_K - L_K^{-k} (Mnih & Rezende, eq. 8-10). The model's parameters
    get sum_k w~_k grad log p(x, z_k).

    With a latent outside the data plate (a global latent) the whole trace is one example:
    log w_k = log p(x, z_k) - log q(z_k | x) sums every site with its own scale and the value
    is the whole trace's K-sample bound, that of ``pyro.infer.RenyiELBO(alpha=0)``.

    Args:
        num_particles: K >= 2, drawn at once under a particle plate.
        data_plate: name of the plate over examples (see
            :class:`~pyrogen.objectives.particles.ParticleELBO` for the plate rules).
        max_plate_nesting: plates in the model; guessed when not given.

    References:
        Variational Inference for Monte Carlo Objectives, A. Mnih, D. J. Rezende, 2016,
        eq. (8)-(10). https://arxiv.org/abs/1602.06725
    """

    whole_trace_if_global = True

    def __init__(
        self,
        num_particles: int = 2,
        data_plate: str = "data",
        max_plate_nesting: int | None = None,
    ):
        if isinstance(num_particles, int) and num_particles < 2:
            raise ValueError(
                f"VIMCO_ELBO needs num_particles >= 2 for its leave-one-out signals, "
                f"got {num_particles}"
            )
        super().__init__(num_particles, data_plate, max_plate_nesting)

    def differentiable_loss(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        k = self.num_particles
        p = self._particles(model, guide, args, kwargs, detach=True)
        log_w = p.log_p - p.log_q  # (K, B); grads only through the densities' parameters
        lw = log_w.detach()
        bound = torch.logsumexp(lw, dim=0) - math.log(k)  # (B,), or (1,) for the whole trace
        # Row k of `swapped` is log w with entry k replaced by the mean of the others.
        others_mean = (lw.sum(0, keepdim=True) - lw) / (k - 1)  # (K, B)
        eye = torch.eye(k, dtype=torch.bool, device=lw.device).unsqueeze(-1)  # (K, K, 1)
        swapped = torch.where(eye, others_mean.unsqueeze(1), lw.unsqueeze(0))  # (K, K, B)
        loo = torch.logsumexp(swapped, dim=1) - math.log(k)  # (K, B)
        weights = torch.softmax(lw, dim=0)
        surrogate = ((bound - loo) * p.log_q + weights * log_w).sum(0)  # (B,)
        bound = bound + surrogate - surrogate.detach()
        return -p.scale * bound.sum()
