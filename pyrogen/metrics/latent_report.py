r"""One call for ``pyrogen eval``: active units per layer and the ELBO-surgery terms.

avg KL = I_q(n; z) + KL(q(z) || p(z)),    A_u = Cov_x(E_q[z_u]) > 0.01.
"""

from __future__ import annotations

from typing import Any

import torch

from pyrogen.metrics.active_units import active_units
from pyrogen.metrics.elbo_surgery import elbo_surgery
from pyrogen.models.protocols import HasGuide, implements


def latent_report(
    module: Any,
    x: torch.Tensor,
    num_examples: int = 500,
    threshold: float = 0.01,
    seed: int = 0,
) -> dict[str, Any]:
    r"""Latent-usage metrics of a model with a guide, as a flat dict for tables and JSON.

    Args:
        module: a module with ``model(x)`` and ``guide(x)`` (VAE, HierarchicalVAE, ...).
            A model whose guide samples nothing (flows, autoregressive models) gets ``{}``.
        x: observations ``(N, ...)``, e.g. the test set.
        num_examples: size of the random subset (never a prefix: test splits may be sorted)
            used for the ELBO surgery, whose cost grows as its square; active units use all
            of ``x``.
        threshold: activity threshold of :func:`~pyrogen.metrics.active_units`.
        seed: seed of the subset choice.

    Returns:
        ``{"active_units": "16+5", "active_units/z1": 16, ..., "elbo_surgery/avg_kl": ...,
        "elbo_surgery/mutual_info": ..., "elbo_surgery/marginal_kl": ...,
        "elbo_surgery/log_n": ...}``.

    References:
        Importance Weighted Autoencoders, Y. Burda et al., 2016, sec. 5.2.
        https://arxiv.org/abs/1509.00519
        ELBO surgery, M. D. Hoffman, M. J. Johnson, 2016, eq. (3)-(4).
    """
    if not implements(module, HasGuide):
        return {}
    try:
        au = active_units(module, x, threshold=threshold)
    except ValueError as e:
        if "no latent site" in str(e):
            return {}
        raise
    report: dict[str, Any] = {"active_units": str(au)}
    report.update({f"active_units/{k}": v for k, v in au.counts.items()})
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(x.shape[0], generator=g)[:num_examples].to(x.device)
    s = elbo_surgery(module, x[idx])
    report.update(
        {
            "elbo_surgery/avg_kl": s.avg_kl,
            "elbo_surgery/mutual_info": s.mutual_info,
            "elbo_surgery/marginal_kl": s.marginal_kl,
            "elbo_surgery/log_n": s.log_n,
        }
    )
    return report
