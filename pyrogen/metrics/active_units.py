r"""Active units: latent dimensions whose posterior mean varies with the input.

    A_u = Cov_x( E_{q(z|x)}[z_u] ),      unit u is active  <=>  A_u > threshold (0.01),

the statistic behind the "active units" columns of the IWAE paper's table (Burda et al. 2016,
sec. 5.2). A collapsed unit has q(z_u|x) ~ p(z_u) for every x, so its mean does not move.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import prune_subsample_sites

from pyrogen.models.protocols import HasGuide, implements

_PARTICLES = "_active_units_particles"


@dataclass
class ActiveUnits:
    """Per-layer result of :func:`active_units`.

    Attributes:
        counts: ``{site: number of active units}``, ``z1`` first.
        variances: ``{site: (D,) tensor of Cov_x(E_q[z_u])}``.
        threshold: the activity threshold used.
    """

    counts: dict[str, int]
    variances: dict[str, torch.Tensor]
    threshold: float

    @property
    def total(self) -> int:
        """Active units summed over every latent site."""
        return sum(self.counts.values())

    def __str__(self) -> str:
        """The paper's notation: ``"16+5"`` for 16 active units in z1 and 5 in z2."""
        return "+".join(str(c) for c in self.counts.values())


def _site_key(name: str) -> tuple[int, str]:
    # z1, z2, ..., z10 in numeric order; other names after, alphabetically
    m = re.fullmatch(r"z(\d+)", name)
    return (int(m.group(1)), "") if m else (1 << 30, name)


@torch.no_grad()
def posterior_means(
    model: Any, x: torch.Tensor, num_samples: int = 10, batch_size: int = 500
) -> dict[str, torch.Tensor]:
    r"""E_{q(z|x)}[z] per latent site: ``{site: (N, D)}`` (D = flattened event size).

    Each site's conditional mean E[z_i | z_{<i}, x] (the distribution's ``mean``, or the
    sample itself when the distribution has none, e.g. a flow) is averaged over
    ``num_samples`` draws of the sites sampled before it. A site whose parameters depend on x
    only (the first layer, a factorized guide) thus gets its exact mean; a site conditioned
    on another sample (q(z_2|z_1)) gets a Rao-Blackwellized Monte Carlo estimate.

    Args:
        model: a module with a ``guide(x)`` method whose latent sites lie in
            ``pyro.plate("data")`` at dim -1 (particles are drawn in a plate at dim -2).
        x: observations ``(N, ...)``.
        num_samples: draws per example for conditionally dependent sites.
        batch_size: examples per pass.
    """
    if not implements(model, HasGuide):
        raise TypeError(f"expected a module with a guide(x) method, got {type(model).__name__}")
    chunks: dict[str, list[torch.Tensor]] = {}
    with pyro.validation_enabled(False):
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            plate = pyro.plate(_PARTICLES, num_samples, dim=-2)
            trace = prune_subsample_sites(poutine.trace(plate(model.guide)).get_trace(xb))
            for name, site in trace.nodes.items():
                if site["type"] != "sample" or site["is_observed"]:
                    continue
                fn: Any = site["fn"]
                try:
                    mean = fn.mean
                except NotImplementedError:
                    mean = site["value"]
                mean = mean.expand_as(site["value"]).reshape(num_samples, xb.shape[0], -1)
                chunks.setdefault(name, []).append(mean.mean(0))
    if not chunks:
        raise ValueError("the guide samples no latent site: there are no units to count")
    return {name: torch.cat(chunks[name]) for name in sorted(chunks, key=_site_key)}


def active_units(
    model: Any,
    x: torch.Tensor,
    threshold: float = 0.01,
    num_samples: int = 10,
    batch_size: int = 500,
) -> ActiveUnits:
    r"""Counts the units u with Cov_x(E_{q(z|x)}[z_u]) > ``threshold``, per latent site.

    Args:
        model: a module with ``guide(x)`` (e.g. :class:`~pyrogen.models.VAE`,
            :class:`~pyrogen.models.HierarchicalVAE`).
        x: observations ``(N, ...)``, N >= 2 (the test set in Burda et al.).
        threshold: activity threshold (0.01 in the paper).
        num_samples: see :func:`posterior_means`.
        batch_size: examples per pass.

    Returns:
        :class:`ActiveUnits` with counts and per-unit variances for ``z1``, ``z2``, ...

    Example:
        >>> import torch
        >>> from pyrogen.models import VAE
        >>> torch.manual_seed(0) and None
        >>> au = active_units(VAE((4,), z_dim=3, hidden=(8,)), torch.rand(100, 4).round())
        >>> sorted(au.counts), au.variances["z"].shape
        (['z'], torch.Size([3]))

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016,
        sec. 5.2 (the activity statistic A_u) and Table 1. https://arxiv.org/abs/1509.00519
    """
    if x.shape[0] < 2:
        raise ValueError(f"active_units needs at least 2 examples to vary over, got {x.shape[0]}")
    means = posterior_means(model, x, num_samples=num_samples, batch_size=batch_size)
    variances = {name: m.var(0, unbiased=False) for name, m in means.items()}
    counts = {name: int((v > threshold).sum()) for name, v in variances.items()}
    return ActiveUnits(counts, variances, threshold)
