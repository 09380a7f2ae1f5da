r"""Affine autoregressive flows: IAF and MAF directions over a MADE conditioner.

With ``(mu, s) = MADE(v)`` autoregressive in ``v`` (output i sees ``v_<i`` only):

* IAF direction (``direction="iaf"``): ``y = x exp(s(x)) + mu(x)``. The forward pass is one
  network evaluation (fast sampling); the inverse needs D sequential passes.
* MAF direction (``direction="maf"``): ``y = x exp(s(y)) + mu(y)``, i.e.
  ``x = (y - mu(y)) exp(-s(y))``. The inverse (density evaluation) is one pass; the forward
  (sampling) needs D passes.

Either way the Jacobian is triangular and ``log |det dy/dx| = sum_i s_i``. The sequential
passes iterate ``v <- update(v)`` D times from zero: after k passes the coordinates of degree
<= k are exact, so after D passes all are. ``s`` is soft-bounded, ``s = B tanh(s_raw / B)``,
so one bad step cannot overflow ``exp``. The conditioner is a MADE by default; any
autoregressive network ``v (..., D) -> (..., 2, D)`` can take its place (e.g. the causal
convolutions of :mod:`pyrogen.nn.causal_conditioners`, which serve every length D).

References:
    Improved Variational Inference with Inverse Autoregressive Flow, D. P. Kingma,
    T. Salimans, R. Jozefowicz, X. Chen, I. Sutskever, M. Welling, 2016, eqs. (10)-(11).
    https://arxiv.org/abs/1606.04934
    Masked Autoregressive Flow for Density Estimation, G. Papamakarios, T. Pavlakou,
    I. Murray, 2017, eqs. (3)-(5). https://arxiv.org/abs/1705.07057
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import cast

import torch
from pyro.distributions.conditional import ConditionalTransformModule
from torch import nn
from torch.distributions import Transform, constraints

from pyrogen.nn.made import AutoregressiveNN
from pyrogen.transforms.base import CacheCopyMixin, FlowTransform, check_event

_DIRECTIONS = ("iaf", "maf")


def _check_direction(direction: str) -> str:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return direction


class _AffineAutoregressiveMixin(abc.ABC):
    """The math shared by the unconditional and the conditioned transforms."""

    direction: str
    log_scale_bound: float | None

    @abc.abstractmethod
    def _conditioner(self, v: torch.Tensor) -> torch.Tensor:
        """Raw (shift, log-scale) outputs of the MADE conditioner for ``v``."""

    def _shift_log_scale(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift, raw = self._conditioner(v).unbind(-2)
        bound = self.log_scale_bound
        if bound is None:
            return shift, raw
        return shift, bound * torch.tanh(raw / bound)

    def _remember(self, x: torch.Tensor, y: torch.Tensor, log_scale: torch.Tensor) -> None:
        # log_abs_det_jacobian(x, y) right after the call reuses s instead of another pass
        # (keyed by identity and grad mode, so a no-grad result never feeds a backward pass).
        # Written to __dict__ directly: nn.Module.__setattr__ is slow on this hot path.
        self.__dict__["_last"] = (x, y, log_scale, torch.is_grad_enabled())

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        if self.direction == "iaf":
            shift, log_scale = self._shift_log_scale(x)
            y = x * log_scale.exp() + shift
        else:
            y = torch.zeros_like(x)
            for _ in range(x.shape[-1]):
                shift, log_scale = self._shift_log_scale(y)
                y = x * log_scale.exp() + shift
        self._remember(x, y, log_scale)
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        if self.direction == "maf":
            shift, log_scale = self._shift_log_scale(y)
            x = (y - shift) * torch.exp(-log_scale)
        else:
            x = torch.zeros_like(y)
            for _ in range(y.shape[-1]):
                shift, log_scale = self._shift_log_scale(x)
                x = (y - shift) * torch.exp(-log_scale)
        self._remember(x, y, log_scale)
        return x

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.log_scales(x, y).sum(-1)

    def log_scales(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The per-coordinate log |dy_i / dx_i| = s_i, ``(..., D)`` (their sum is the log-det)."""
        last = getattr(self, "_last", None)
        if (
            last is not None
            and last[0] is x
            and last[1] is y
            and last[3] == torch.is_grad_enabled()
        ):
            log_scale = last[2]
        else:
            log_scale = self._shift_log_scale(x if self.direction == "iaf" else y)[1]
        return log_scale


class AffineAutoregressive(_AffineAutoregressiveMixin, FlowTransform):
    r"""Affine autoregressive flow on R^D, ``y = x exp(s) + mu`` with a MADE conditioner.

    Args:
        dim: D; ``None`` with a ``conditioner`` that serves any length.
        hidden: hidden sizes of the MADE conditioner.
        direction: ``"iaf"`` (conditioner reads x: one-pass forward, D-pass inverse) or
            ``"maf"`` (conditioner reads y: one-pass inverse/log_prob, D-pass forward).
        order: degree of each coordinate, a permutation of 1..D (default natural order);
            stacks alternate orders so every coordinate gets to condition on the others.
        log_scale_bound: B in ``s = B tanh(s_raw / B)``; ``None``: s = s_raw.
        conditioner: an autoregressive network ``(..., D) -> (..., 2, D)`` in place of the
            MADE (``hidden`` and ``order`` then do not apply).
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import AffineAutoregressive
        >>> _ = torch.manual_seed(0)
        >>> f = AffineAutoregressive(4, hidden=(16,), direction="maf")
        >>> y = torch.randn(3, 4)
        >>> bool(torch.allclose(f(f.inv(y)), y, atol=1e-5))
        True

    References:
        Improved Variational Inference with Inverse Autoregressive Flow, D. P. Kingma et al.,
        2016, eq. (10). https://arxiv.org/abs/1606.04934
        Masked Autoregressive Flow for Density Estimation, G. Papamakarios et al., 2017,
        eq. (3). https://arxiv.org/abs/1705.07057
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(
        self,
        dim: int | None,
        hidden: Sequence[int] = (64, 64),
        direction: str = "iaf",
        order: torch.Tensor | Sequence[int] | None = None,
        log_scale_bound: float | None = 5.0,
        cache_size: int = 0,
        conditioner: nn.Module | None = None,
    ):
        super().__init__(cache_size=cache_size)
        if dim is None and conditioner is None:
            raise ValueError("dim=None needs a conditioner that serves any length")
        self.dim = dim
        self.direction = _check_direction(direction)
        self.log_scale_bound = log_scale_bound
        self.nn = (
            conditioner
            if conditioner is not None
            else AutoregressiveNN(cast(int, dim), hidden, num_params=2, order=order)
        )

    def _conditioner(self, v: torch.Tensor) -> torch.Tensor:
        if self.dim is not None:
            check_event(v, (self.dim,), "AffineAutoregressive")
        return self.nn(v)


class ConditionedAffineAutoregressive(_AffineAutoregressiveMixin, CacheCopyMixin, Transform):
    """An :class:`AffineAutoregressive` whose conditioner also reads a fixed context
    ``(..., context_dim)``; returned by :meth:`ConditionalAffineAutoregressive.condition`."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, owner: ConditionalAffineAutoregressive, context: torch.Tensor):
        super().__init__(cache_size=1)
        self.owner, self.context = owner, context
        self.direction, self.log_scale_bound = owner.direction, owner.log_scale_bound

    def _conditioner(self, v: torch.Tensor) -> torch.Tensor:
        return self.owner.nn(v, self.context)


class ConditionalAffineAutoregressive(ConditionalTransformModule):
    r"""Affine autoregressive flow whose MADE also reads a context vector (e.g. the IAF
    guide's encoder output ``h``), ``y = x exp(s(x, h)) + mu(x, h)``.

    Args:
        dim: D.
        context_dim: size of the context.
        hidden: hidden sizes of the MADE conditioner.
        direction: ``"iaf"`` or ``"maf"`` (see :class:`AffineAutoregressive`).
        order: degree of each coordinate, a permutation of 1..D.
        log_scale_bound: B in ``s = B tanh(s_raw / B)``.

    Shapes:
        ``condition(context)`` with ``context`` ``(..., context_dim)`` returns a transform
        acting on ``(..., D)`` (batch shapes broadcast).

    References:
        Improved Variational Inference with Inverse Autoregressive Flow, D. P. Kingma et al.,
        2016, section 4 and fig. 2 (context h from the encoder).
        https://arxiv.org/abs/1606.04934
    """

    def __init__(
        self,
        dim: int,
        context_dim: int,
        hidden: Sequence[int] = (64, 64),
        direction: str = "iaf",
        order: torch.Tensor | Sequence[int] | None = None,
        log_scale_bound: float = 5.0,
    ):
        super().__init__()
        self.dim, self.context_dim = dim, context_dim
        self.direction = _check_direction(direction)
        self.log_scale_bound = log_scale_bound
        self.nn = AutoregressiveNN(dim, hidden, num_params=2, context_dim=context_dim, order=order)

    def condition(self, context: torch.Tensor) -> ConditionedAffineAutoregressive:
        check_event(context, (self.context_dim,), "ConditionalAffineAutoregressive context")
        return ConditionedAffineAutoregressive(self, context)
