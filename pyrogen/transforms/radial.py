r"""Radial flow ``f(z) = z + beta (z - z0) / (alpha + r)``, ``r = ||z - z0||``, with its inverse.

With ``h = 1 / (alpha + r)`` the Jacobian has eigenvalue ``1 + beta h`` (multiplicity D - 1,
orthogonal to z - z0) and ``1 + beta h + beta h' r = 1 + beta alpha / (alpha + r)^2`` along
z - z0, hence

    log |det df/dz| = (D - 1) log(1 + beta h) + log(1 + beta alpha / (alpha + r)^2).

``alpha = softplus(.) > 0`` and ``beta = -alpha + softplus(.) > -alpha`` make f invertible.
The inverse reduces to the scalar equation for the radius: ``rho = ||y - z0||`` satisfies
``rho = r (alpha + beta + r) / (alpha + r)``, i.e. ``r^2 + (alpha + beta - rho) r - rho alpha = 0``,
whose unique non-negative root is taken in the cancellation-free form of the quadratic formula;
then ``z = z0 + (y - z0) (alpha + r) / (alpha + beta + r)``.

References:
    Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015,
    eqs. (13)-(14). https://arxiv.org/abs/1505.05770
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from pyro.distributions.conditional import ConditionalTransformModule
from torch import nn
from torch.distributions import Transform, constraints

from pyrogen.nn.mlp import MLP
from pyrogen.transforms.base import CacheCopyMixin, FlowTransform, check_event


def radial_params(
    alpha_raw: torch.Tensor, beta_raw: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``alpha = softplus(alpha_raw) > 0`` and ``beta = -alpha + softplus(beta_raw) > -alpha``."""
    alpha = F.softplus(alpha_raw)
    return alpha, F.softplus(beta_raw) - alpha


def radial_forward(x, z0, alpha, beta):
    """``(..., D) -> (..., D)``; ``alpha``, ``beta`` have shape ``(...)``."""
    diff = x - z0
    r = diff.norm(dim=-1)
    return x + (beta / (alpha + r)).unsqueeze(-1) * diff


def radial_inverse(y, z0, alpha, beta):
    """Exact inverse of :func:`radial_forward` at any ``y`` in R^D."""
    diff = y - z0
    rho = diff.norm(dim=-1)
    p = alpha + beta - rho
    disc = torch.sqrt(p * p + 4 * rho * alpha)
    # Roots of r^2 + p r - rho alpha: both forms are exact; each avoids cancellation on its side.
    r = torch.where(p > 0, 2 * rho * alpha / (p + disc), (disc - p) / 2)
    return z0 + diff * ((alpha + r) / (alpha + beta + r)).unsqueeze(-1)


def radial_log_det(x, z0, alpha, beta):
    """Log |det Jacobian| at ``x``, shape ``x.shape[:-1]``."""
    r = (x - z0).norm(dim=-1)
    a_r = alpha + r
    return (x.shape[-1] - 1) * torch.log1p(beta / a_r) + torch.log1p(beta * alpha / (a_r * a_r))


class Radial(FlowTransform):
    r"""Radial flow around a learned centre ``z0`` on R^D; invertible everywhere.

    Args:
        dim: D.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import Radial
        >>> _ = torch.manual_seed(0)
        >>> f = Radial(2)
        >>> y = 3 * torch.randn(5, 2)  # fresh points of the codomain
        >>> bool(torch.allclose(f(f.inv(y)), y, atol=1e-5))
        True

    References:
        Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015,
        eq. (14). https://arxiv.org/abs/1505.05770
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, dim: int, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.dim = dim
        bound = dim**-0.5
        self.z0 = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.alpha_raw = nn.Parameter(torch.empty(()).uniform_(-bound, bound))
        self.beta_raw = nn.Parameter(torch.empty(()).uniform_(-bound, bound))

    def params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z0, alpha, beta)`` with the invertibility constraint applied."""
        return (self.z0, *radial_params(self.alpha_raw, self.beta_raw))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        check_event(x, (self.dim,), "Radial")
        return radial_forward(x, *self.params())

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        check_event(y, (self.dim,), "Radial")
        return radial_inverse(y, *self.params())

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return radial_log_det(x, *self.params())


class ConditionedRadial(CacheCopyMixin, Transform):
    """Radial flow with given per-example ``z0`` ``(..., D)``, ``alpha``, ``beta`` ``(...)``
    (already constrained by :func:`radial_params`); returned by
    :meth:`ConditionalRadial.condition`."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, z0, alpha, beta, cache_size: int = 1):
        super().__init__(cache_size=cache_size)
        self.z0, self.alpha, self.beta = z0, alpha, beta

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return radial_forward(x, self.z0, self.alpha, self.beta)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return radial_inverse(y, self.z0, self.alpha, self.beta)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return radial_log_det(x, self.z0, self.alpha, self.beta)


class ConditionalRadial(ConditionalTransformModule):
    r"""Amortized radial flow: ``(z0, alpha, beta) = NN(context)``.

    Args:
        dim: D.
        context_dim: size of the context.
        hidden: hidden sizes of the network (empty: a linear map).

    Shapes:
        ``condition(context)`` with ``context`` ``(..., context_dim)`` returns a
        :class:`ConditionedRadial` acting on ``(..., D)``.

    References:
        Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015,
        eq. (14) and section 4.2. https://arxiv.org/abs/1505.05770
    """

    def __init__(self, dim: int, context_dim: int, hidden: Sequence[int] = ()):
        super().__init__()
        self.dim, self.context_dim = dim, context_dim
        self.net = MLP(context_dim, hidden, dim + 2, act="tanh")

    def condition(self, context: torch.Tensor) -> ConditionedRadial:
        check_event(context, (self.context_dim,), "ConditionalRadial context")
        z0, a, b = self.net(context).split([self.dim, 1, 1], dim=-1)
        alpha, beta = radial_params(a.squeeze(-1), b.squeeze(-1))
        return ConditionedRadial(z0, alpha, beta)
