r"""The f-divergences of f-GAN: generator f, output activation g_f and Fenchel conjugate f*.

For a convex f with f(1) = 0, ``D_f(P || Q) = E_Q[f(p(x) / q(x))]`` and, by Fenchel duality,

    D_f(P || Q) >= sup_T E_P[T(x)] - E_Q[f*(T(x))],                       (Nowozin eq. 4)

with equality at ``T*(x) = f'(p(x) / q(x))``. A critic with raw output ``v(x)`` in R is mapped
into the conjugate's domain by the output activation, ``T = g_f(v)``. Here P is the data and Q
the generator, as in the paper.

The table follows Nowozin et al. (2016), Tables 1, 2 and 6, except for Jensen-Shannon: its
generator there, ``-(u+1) log((1+u)/2) + u log u``, gives *twice* the JS divergence defined
with the 1/2 weights. We use ``f = 1/2 [u log u - (u+1) log((u+1)/2)]`` so that ``D_f`` is
JS itself (bounded by log 2); scaling f by 1/2 gives ``f*(t) = 1/2 f_2*(2t)``, hence the
conjugate ``-1/2 log(2 - exp(2t))`` on ``t < log(2)/2`` and the activation
``(log 2 - softplus(-v)) / 2``.

References:
    f-GAN: Training Generative Neural Samplers using Variational Divergence Minimization,
    S. Nowozin, B. Cseke, R. Tomioka, 2016, eq. (4), (6), Tables 1, 2, 6.
    https://arxiv.org/abs/1606.00709
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Fn = Callable[[torch.Tensor], torch.Tensor]
_LOG2 = math.log(2.0)


@dataclass(frozen=True)
class FDivergence:
    """One row of the f-GAN table.

    Attributes:
        name: short name (``"kl"``, ``"reverse_kl"``, ``"js"``, ``"pearson"``,
            ``"hellinger"``, ``"gan"``).
        f: the generator function f(u), u = p/q > 0, convex with f(1) = 0 (``"gan"``:
            f(1) = -log 4, so that D_f = 2 JS - log 4 as in the minimax game).
        f_prime: its derivative; ``f'(p/q)`` is the optimal critic T*.
        activation: g_f, maps a raw critic output in R into the domain of f*.
        conjugate: f*(t) = sup_u u t - f(u), on the activation's range.
    """

    name: str
    f: Fn
    f_prime: Fn
    activation: Fn
    conjugate: Fn


def _xlogx(u: torch.Tensor) -> torch.Tensor:
    return torch.xlogy(u, u)


F_DIVERGENCES: dict[str, FDivergence] = {
    # KL(P || Q): f = u log u, f* = exp(t - 1), any real t.
    "kl": FDivergence(
        "kl",
        f=_xlogx,
        f_prime=lambda u: 1.0 + torch.log(u),
        activation=lambda v: v,
        conjugate=lambda t: torch.exp(t - 1.0),
    ),
    # KL(Q || P): f = -log u, f* = -1 - log(-t) on t < 0.
    "reverse_kl": FDivergence(
        "reverse_kl",
        f=lambda u: -torch.log(u),
        f_prime=lambda u: -1.0 / u,
        activation=lambda v: -torch.exp(-v),
        conjugate=lambda t: -1.0 - torch.log(-t),
    ),
    # Pearson chi^2: f = (u - 1)^2, f* = t^2 / 4 + t, any real t.
    "pearson": FDivergence(
        "pearson",
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        activation=lambda v: v,
        conjugate=lambda t: 0.25 * t**2 + t,
    ),
    # Squared Hellinger: f = (sqrt(u) - 1)^2, f* = t / (1 - t) on t < 1.
    "hellinger": FDivergence(
        "hellinger",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - torch.rsqrt(u),
        activation=lambda v: 1.0 - torch.exp(-v),
        conjugate=lambda t: t / (1.0 - t),
    ),
    # Jensen-Shannon with the 1/2 weights (see the module docstring), t < log(2) / 2.
    "js": FDivergence(
        "js",
        f=lambda u: 0.5 * (_xlogx(u) - (u + 1.0) * torch.log((u + 1.0) / 2.0)),
        f_prime=lambda u: 0.5 * torch.log(2.0 * u / (1.0 + u)),
        activation=lambda v: 0.5 * (_LOG2 - F.softplus(-v)),
        conjugate=lambda t: -0.5 * torch.log(2.0 - torch.exp(2.0 * t)),
    ),
    # The original GAN objective, 2 JS - log 4: f* = -log(1 - exp(t)) on t < 0.
    "gan": FDivergence(
        "gan",
        f=lambda u: _xlogx(u) - (u + 1.0) * torch.log(u + 1.0),
        f_prime=lambda u: torch.log(u / (u + 1.0)),
        activation=lambda v: -F.softplus(-v),
        conjugate=lambda t: -torch.log(-torch.expm1(t)),
    ),
}


def get_f_divergence(name: str) -> FDivergence:
    """Looks a divergence up by name, with or without the ``"f:"`` prefix."""
    key = name[2:] if name.startswith("f:") else name
    try:
        return F_DIVERGENCES[key]
    except KeyError:
        valid = ", ".join(f"'f:{k}'" for k in F_DIVERGENCES)
        raise ValueError(f"unknown f-divergence {name!r}; expected one of {valid}") from None
