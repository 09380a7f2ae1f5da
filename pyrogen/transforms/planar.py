r"""Planar flow ``f(z) = z + u_hat tanh(w^T z + b)`` with an exact numerical inverse.

The log-determinant follows from the matrix determinant lemma,

    log |det df/dz| = log |1 + (1 - tanh^2(w^T z + b)) w^T u_hat|,

and ``u_hat = u + (m(w^T u) - w^T u) w / ||w||^2`` with ``m(a) = -1 + softplus(a)`` keeps
``w^T u_hat > -1``, which makes f invertible. To invert ``y = f(z)``, project on w: the scalar
``a = w^T z`` solves ``a + c tanh(a + b) = w^T y`` with ``c = w^T u_hat``. The left side is
strictly increasing and within ``|c|`` of ``a``, so the root lies in
``[w^T y - |c|, w^T y + |c|]``; a vectorized Newton iteration safeguarded by bisection finds it,
and then ``z = y - u_hat tanh(a + b)``.

References:
    Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015,
    eqs. (10)-(12) and appendix A.1. https://arxiv.org/abs/1505.05770
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


def constrain_u(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    r"""``u_hat = u + (softplus(w^T u) - 1 - w^T u) w / ||w||^2`` so that ``w^T u_hat > -1``.

    Shapes: ``u``, ``w`` ``(..., D)`` -> ``(..., D)``.
    """
    wu = (w * u).sum(-1, keepdim=True)
    return u + (F.softplus(wu) - 1 - wu) * w / (w * w).sum(-1, keepdim=True)


def solve_monotone_tanh(
    s: torch.Tensor, c: torch.Tensor, b: torch.Tensor, max_iter: int = 200
) -> torch.Tensor:
    r"""Root ``a`` of ``g(a) = a + c tanh(a + b) - s`` for ``c > -1`` (elementwise, broadcast).

    Safeguarded Newton (Numerical Recipes' ``rtsafe`` rule, vectorized): a Newton step is
    replaced by bisection of the current bracket when it would leave the bracket or when it
    does not at least halve the step before last, so the bracket shrinks geometrically even
    where ``g' = 1 + c (1 - tanh^2)`` is nearly zero (``c`` close to -1). It stops when every
    step is within a few machine epsilons. The returned root has the value of the solution
    and the gradient of the implicit function theorem, ``da = -dg / g'(a)``.
    """
    s, c, b = torch.broadcast_tensors(s, c, b)
    eps = torch.finfo(s.dtype).eps
    with torch.no_grad():
        sd, cd, bd = s.detach(), c.detach(), b.detach()
        lo, hi = sd - cd.abs(), sd + cd.abs()
        a = sd.clone()
        dx = dx_old = hi - lo
        for _ in range(max_iter):
            t = torch.tanh(a + bd)
            g = a + cd * t - sd
            dg = 1 + cd * (1 - t * t)
            hi = torch.where(g > 0, a, hi)
            lo = torch.where(g > 0, lo, a)
            newton = a - g / dg
            bisect = (newton <= lo) | (newton >= hi) | ~torch.isfinite(newton)
            bisect |= (2 * g).abs() > (dx_old * dg).abs()
            a_new = torch.where(bisect, (lo + hi) / 2, newton)
            dx_old, dx = dx, a_new - a
            a = torch.where(g == 0, a, a_new)
            if bool(((dx.abs() <= 2 * eps * (1 + a.abs())) | (g == 0)).all()):
                break
    # Value a; gradient -(dg/dtheta) / g'(a) from the implicit function theorem.
    t = torch.tanh(a + b)
    g = a + c * t - s
    correction = g / (1 + c * (1 - t * t)).detach()
    return a - (correction - correction.detach())


def planar_forward(x: torch.Tensor, u_hat: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    """``(..., D) -> (..., D)``; ``b`` has shape ``(...)``."""
    return x + u_hat * torch.tanh((w * x).sum(-1) + b).unsqueeze(-1)


def planar_inverse(y: torch.Tensor, u_hat: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    """Exact inverse of :func:`planar_forward` at any ``y`` in R^D."""
    c = (w * u_hat).sum(-1)
    a = solve_monotone_tanh((w * y).sum(-1), c, b)
    return y - u_hat * torch.tanh(a + b).unsqueeze(-1)


def planar_log_det(x: torch.Tensor, u_hat: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    """``log(1 + (1 - tanh^2(w^T x + b)) w^T u_hat)``, shape ``x.shape[:-1]``."""
    t = torch.tanh((w * x).sum(-1) + b)
    return torch.log1p((1 - t * t) * (w * u_hat).sum(-1))


class Planar(FlowTransform):
    r"""Planar flow ``f(z) = z + u_hat tanh(w^T z + b)`` on R^D with learned (u, w, b).

    ``_inverse`` works on any point (root-finding along w, see the module docstring), not
    only on values this object produced.

    Args:
        dim: D.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import Planar
        >>> _ = torch.manual_seed(0)
        >>> f = Planar(3)
        >>> y = torch.randn(4, 3)  # not an output of f
        >>> bool(torch.allclose(f(f.inv(y)), y, atol=1e-5))
        True

    References:
        Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015,
        eq. (10). https://arxiv.org/abs/1505.05770
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, dim: int, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.dim = dim
        bound = dim**-0.5
        self.u = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.w = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(()).uniform_(-bound, bound))

    def u_hat(self) -> torch.Tensor:
        return constrain_u(self.u, self.w)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        check_event(x, (self.dim,), "Planar")
        return planar_forward(x, self.u_hat(), self.w, self.b)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        check_event(y, (self.dim,), "Planar")
        return planar_inverse(y, self.u_hat(), self.w, self.b)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return planar_log_det(x, self.u_hat(), self.w, self.b)


class ConditionedPlanar(CacheCopyMixin, Transform):
    r"""Planar flow with given per-example parameters ``u_hat, w`` ``(..., D)``, ``b`` ``(...)``.

    Returned by :meth:`ConditionalPlanar.condition`; ``u_hat`` must already satisfy
    ``w^T u_hat > -1`` (use :func:`constrain_u`).
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, u_hat: torch.Tensor, w: torch.Tensor, b: torch.Tensor, cache_size: int = 1):
        super().__init__(cache_size=cache_size)
        self.u_hat, self.w, self.b = u_hat, w, b

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return planar_forward(x, self.u_hat, self.w, self.b)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return planar_inverse(y, self.u_hat, self.w, self.b)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return planar_log_det(x, self.u_hat, self.w, self.b)


class ConditionalPlanar(ConditionalTransformModule):
    r"""Amortized planar flow: ``(u, w, b) = NN(context)``, one flow per data point.

    Args:
        dim: D.
        context_dim: size of the context (e.g. the encoder's last hidden layer).
        hidden: hidden sizes of the network (empty: a linear map, as in the paper).

    Shapes:
        ``condition(context)`` with ``context`` ``(..., context_dim)`` returns a
        :class:`ConditionedPlanar` acting on ``(..., D)``.

    References:
        Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015,
        section 4.2 (flow parameters output by the inference network).
        https://arxiv.org/abs/1505.05770
    """

    def __init__(self, dim: int, context_dim: int, hidden: Sequence[int] = ()):
        super().__init__()
        self.dim, self.context_dim = dim, context_dim
        self.net = MLP(context_dim, hidden, 2 * dim + 1, act="tanh")

    def condition(self, context: torch.Tensor) -> ConditionedPlanar:
        check_event(context, (self.context_dim,), "ConditionalPlanar context")
        u, w, b = self.net(context).split([self.dim, self.dim, 1], dim=-1)
        return ConditionedPlanar(constrain_u(u, w), w, b.squeeze(-1))
