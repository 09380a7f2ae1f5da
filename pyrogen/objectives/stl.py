r"""Sticking the landing: the ELBO's path-derivative gradient, with the score term of q dropped.

    grad_phi ELBO = E_eps[ (d/dz)(log p(x, z) - log q_phi(z | x)) dz/dphi ]
                    - E_q[ (d/dphi) log q_phi(z | x) ],

whose second term has expectation zero. Dropping it keeps the gradient unbiased and makes it
exactly zero when q equals the posterior, where log p(x, z) - log q(z | x) = log p(x) is
constant in z.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pyrogen.objectives.particles import ParticleELBO


class STL_ELBO(ParticleELBO):
    r"""grad = E[(d/dz)(log p(x, z) - log q(z | x)) dz/dphi]: the ELBO's path-derivative gradient.

    ``loss = -(1/K) sum_k sum_b [log p(x_b, z_{k,b}) - log q(z_{k,b} | x_b)]``, the same value
    as :class:`~pyro.infer.Trace_ELBO`; in the gradient log q is evaluated with its parameters
    held fixed (the guide is replayed at z detached and that score part subtracted), so only
    the path through z = g(eps, phi) remains. Every guide site must be reparameterizable.
    The model's parameters get the usual reparameterized gradient.

    The ELBO is defined for any model: with a latent outside the data plate (a global latent)
    the whole trace is one example, log p and log q summing every site with its own scale as
    :class:`~pyro.infer.Trace_ELBO` does, so the value is Trace_ELBO's on the same draws.

    Args:
        num_particles: K, drawn at once under a particle plate.
        data_plate: name of the plate over examples (see
            :class:`~pyrogen.objectives.particles.ParticleELBO` for the plate rules).
        max_plate_nesting: plates in the model; guessed when not given.

    References:
        Sticking the Landing: Simple, Lower-Variance Gradient Estimators for Variational
        Inference, G. Roeder, Y. Wu, D. Duvenaud, 2017, eq. (8).
        https://arxiv.org/abs/1703.09194
    """

    whole_trace_if_global = True

    def differentiable_loss(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        p = self._particles(model, guide, args, kwargs)
        self._require_reparam(p.guide_trace, "STL_ELBO")
        fixed_z = {name: v.detach() for name, v in p.values.items()}
        score = self.guide_log_q(guide, p.guide_trace, fixed_z, args, kwargs, p.whole_trace)
        log_q = p.log_q - score + score.detach()  # same value, no gradient at fixed z
        elbo = (p.log_p - log_q).mean(0)  # (B,), or (1,) for the whole trace
        return -p.scale * elbo.sum()
