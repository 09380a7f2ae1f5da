r"""A tracing-free evaluation of the ELBO and IWAE bound of a hierarchical VAE.

For a :class:`~pyrogen.models.HierarchicalVAE` with its own ``model``/``guide``, the sites are
fixed: reparameterized Gaussian latents ``z1 .. zL`` drawn bottom-up by the guide and an
observed ``x``. The bound is evaluated straight from the networks (Burda et al. 2016, eq. (8)
with the top-down prior of sec. 5)::

    z_i = mu_i(h_{i-1}) + sigma_i(h_{i-1}) * eps_i,  h_0 = x,  h_i = z_i ("chain") or the
          layer's features ("factorized"),             eps_i ~ N(0, I)    (K, B, d_i)
    log w = log p(x | z1) + log N(z_L; 0, I) + sum_{i<L} log N(z_i; prior_i(z_{i+1}))
            - sum_i log N(z_i; mu_i, sigma_i^2)

The noise is drawn as Pyro draws it (``normal_`` on a ``(K, B, d_i)`` or ``(B, d_i)`` buffer,
layer after layer), so on the same random state value and gradient equal ``Trace_ELBO``
(vectorized particles) and :class:`~pyrogen.objectives.IWAE_ELBO` up to float rounding.

References:
    Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016, eq. (8).
    https://arxiv.org/abs/1509.00519
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from pyrogen.infer.fast_elbo import (
    check_bound_args,
    check_exact_class,
    check_structure,
    log_normal,
    log_px_given,
    log_q_at_noise,
    log_standard_normal,
    negative_bound,
)
from pyrogen.models.hierarchical_vae import HierarchicalVAE


def _check_module(module: nn.Module) -> HierarchicalVAE:
    check_exact_class(module, HierarchicalVAE)
    return cast(HierarchicalVAE, module)


class HierarchicalObjective(nn.Module):
    r"""-ELBO or -IWAE bound of a :class:`~pyrogen.models.HierarchicalVAE`, summed over the
    batch; the interface of :class:`~pyrogen.infer.fast_elbo.VAEObjective`.

    Args:
        vae: the model (its ``model``/``guide`` must be HierarchicalVAE's own).
        kind: ``"elbo"`` (mean over particles of log w) or ``"iwae"`` (logsumexp).
        num_particles: K, drawn at once (vectorized).
    """

    analytic_kl = False
    particle_chunk = None

    def __init__(self, vae: nn.Module, kind: str = "elbo", num_particles: int = 1):
        super().__init__()
        self.vae = _check_module(vae)
        check_bound_args(kind, num_particles)
        self.kind, self.num_particles = kind, num_particles
        self.checked = False
        self.loss_fn = self.loss_from_noise

    def draw_noise(self, batch: int) -> list[torch.Tensor]:
        """eps_i ~ N(0, I) per layer, ``z1``'s first: ``(B, d_i)`` or ``(K, B, d_i)``."""
        lead = (batch,) if self.num_particles == 1 else (self.num_particles, batch)
        w = self.vae.layers()[0].loc.weight
        return [
            torch.empty((*lead, d), dtype=w.dtype, device=w.device).normal_()
            for d in self.vae.z_dims
        ]

    def log_weights(self, x: torch.Tensor, eps: list[torch.Tensor]) -> torch.Tensor:
        """``log p(x, z) - log q(z | x)``: ``(B,)`` or ``(K, B)``. No random draws."""
        vae = self.vae
        h = vae._flat(x)
        zs: list[torch.Tensor] = []
        log_q = torch.zeros((), dtype=x.dtype, device=x.device)
        for enc, e in zip(vae.layers(), eps):
            f = enc.features(h)
            loc, scale = enc.heads(f)
            z = loc + e * scale
            zs.append(z)
            log_q = log_q + log_q_at_noise(e, scale)
            h = z if vae.inference == "chain" else f
        log_p = log_standard_normal(zs[-1])
        for i in reversed(range(vae.num_layers - 1)):
            loc, scale = vae.priors[i](zs[i + 1])
            log_p = log_p + log_normal(zs[i], loc, scale)
        log_px = log_px_given(vae, vae.decode(zs[0]), x)
        return log_px + log_p - log_q

    def loss_from_noise(self, x: torch.Tensor, eps: list[torch.Tensor]) -> torch.Tensor:
        return negative_bound(self.log_weights(x, eps), self.kind, self.num_particles)

    def check(self, x: torch.Tensor) -> None:
        """Once: the data's shape and the site structure (traced on ``x[:1]``)."""
        if not self.checked:
            self.vae.check_x(x)
            check_structure(self.vae, x, [f"z{i + 1}" for i in range(self.vae.num_layers)])
            self.checked = True

    def forward(self, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        self.check(x)
        eps = self.draw_noise(x.shape[0])
        if rows is not None:
            x, eps = x[rows], [e[..., rows, :] for e in eps]
        return self.loss_fn(x, eps)
