r"""beta-VAE objectives: a weighted KL term, and a KL term held near a target capacity C(t).

Two objectives share one estimator::

    beta-VAE  (Higgins et al. 2017):  E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))
    capacity  (Burgess et al. 2018):  E_q[log p(x|z)] - gamma * | KL(q(z|x) || p(z)) - C(t) |

The KL is the same single-sample estimate that :class:`pyro.infer.Trace_ELBO` uses,
log q(z|x) - log p(z) at z ~ q, so that at beta = 1 (or gamma = 1, C = 0 with a positive
batch KL) the loss and its gradient are exactly those of ``Trace_ELBO``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pyro.infer import ELBO
from pyro.infer.enum import get_importance_trace
from pyro.infer.util import is_validation_enabled
from pyro.util import check_if_enumerated, warn_if_nan


@dataclass
class LinearCapacity:
    r"""C(t) = c_max * min(1, t / num_steps): the linear capacity schedule of Burgess et al.

    Args:
        c_max: final capacity in nats (per example).
        num_steps: training steps over which C grows from 0 to ``c_max``.

    References:
        Understanding disentangling in beta-VAE, C. P. Burgess, I. Higgins, A. Pal,
        L. Matthey, N. Watters, G. Desjardins, A. Lerchner, 2018, Sec. 5.
        https://arxiv.org/abs/1804.03599
    """

    c_max: float
    num_steps: int

    def __post_init__(self) -> None:
        if self.c_max < 0 or self.num_steps <= 0:
            raise ValueError(
                f"LinearCapacity needs c_max >= 0 and num_steps > 0, got c_max={self.c_max}, "
                f"num_steps={self.num_steps}"
            )

    def __call__(self, step: int) -> float:
        return self.c_max * min(1.0, step / self.num_steps)


class BetaELBO(ELBO):
    r"""Negative beta-VAE bound, optionally with a KL capacity target C(t).

    Without ``capacity`` the loss is, summed over the data plate,

        -sum_i ( E_q[log p(x_i|z)] - beta * KL(q(z|x_i) || p(z)) ),

    and with a capacity C(t) (nats per example) the KL penalty becomes
    ``beta * N * |mean_i KL_i - C(t)|`` over the N examples of the ``"data"`` plate: the
    batch-average KL is pulled to C(t) from either side (Burgess et al., eq. 8).

    The schedule's step counter ``num_steps`` advances once per call made with gradients
    enabled (a training step); evaluation under :func:`torch.no_grad` leaves it alone. It
    is part of :meth:`state_dict` for resumption.

    Args:
        beta: weight of the KL term (gamma in Burgess et al.).
        capacity: ``None`` (plain beta-VAE), a constant C in nats, or a schedule
            ``step -> C`` such as :class:`LinearCapacity`.
        num_particles: samples z ~ q per example; losses are averaged over them.
        **kwargs: forwarded to :class:`pyro.infer.ELBO`.

    Example:
        >>> import torch, pyro
        >>> from pyro.infer import Trace_ELBO
        >>> from pyrogen.infer import BetaELBO
        >>> from pyrogen.models import VAE
        >>> vae = VAE((4,), z_dim=2, hidden=(8,))
        >>> x = torch.ones(3, 4)
        >>> pyro.set_rng_seed(0); a = BetaELBO(beta=1.0).loss(vae.model, vae.guide, x)
        >>> pyro.set_rng_seed(0); b = Trace_ELBO().loss(vae.model, vae.guide, x)
        >>> abs(a - b) < 1e-4
        True

    References:
        beta-VAE: Learning basic visual concepts with a constrained variational framework,
        I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed,
        A. Lerchner, 2017, eq. (4). https://openreview.net/forum?id=Sy2fzU9gl

        Understanding disentangling in beta-VAE, C. P. Burgess et al., 2018, eq. (8).
        https://arxiv.org/abs/1804.03599
    """

    def __init__(
        self,
        beta: float = 1.0,
        capacity: float | Callable[[int], float] | None = None,
        num_particles: int = 1,
        **kwargs: Any,
    ):
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if isinstance(capacity, (int, float)) and capacity < 0:
            raise ValueError(f"capacity must be >= 0 nats, got {capacity}")
        if (
            capacity is not None
            and not isinstance(capacity, (int, float))
            and not callable(capacity)
        ):
            raise TypeError(
                f"capacity must be None, a number or a callable step -> C, "
                f"got {type(capacity).__name__}"
            )
        super().__init__(num_particles=num_particles, **kwargs)
        self.beta = float(beta)
        self.capacity = capacity
        self.num_steps = 0
        self.last_terms: dict[str, float] = {}

    @property
    def is_bound(self) -> bool:
        """Whether -loss is the ELBO itself: beta = 1 without a capacity target."""
        return self.beta == 1.0 and self.capacity is None

    def current_capacity(self) -> float | None:
        """C(t) at the current step, or ``None`` for the plain beta-VAE objective."""
        if self.capacity is None:
            return None
        if callable(self.capacity):
            return float(self.capacity(self.num_steps))
        return float(self.capacity)

    def _get_trace(self, model, guide, args, kwargs):
        model_trace, guide_trace = get_importance_trace(
            "flat", self.max_plate_nesting, model, guide, args, kwargs
        )
        if is_validation_enabled():
            check_if_enumerated(guide_trace)
        return model_trace, guide_trace

    @staticmethod
    def _terms(model_trace, guide_trace) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Summed log-likelihood, summed KL estimate and the data-plate size of one particle."""
        log_lik: Any = 0.0
        kl: Any = 0.0
        n = 1
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                log_lik = log_lik + site["log_prob_sum"]
                for frame in site["cond_indep_stack"]:
                    if frame.name == "data":
                        n = int(frame.size)
            elif name in guide_trace.nodes:
                if not guide_trace.nodes[name]["fn"].has_rsample:
                    raise ValueError(
                        f"BetaELBO needs reparameterized guide sites; site {name!r} of the "
                        f"guide is not reparameterizable ({type(site['fn']).__name__})"
                    )
                kl = kl + guide_trace.nodes[name]["log_prob_sum"] - site["log_prob_sum"]
            else:
                # A model-only latent contributes its own log-density, as in Trace_ELBO.
                log_lik = log_lik + site["log_prob_sum"]
        return torch.as_tensor(log_lik), torch.as_tensor(kl), n

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        c = self.current_capacity()
        loss: Any = 0.0
        log_lik_total = kl_total = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            log_lik, kl, n = self._terms(model_trace, guide_trace)
            penalty = kl if c is None else (kl - n * c).abs()
            loss = loss + (-log_lik + self.beta * penalty) / self.num_particles
            log_lik_total += float(log_lik.detach()) / self.num_particles
            kl_total += float(kl.detach()) / (self.num_particles * n)
        warn_if_nan(loss, "loss")
        self.last_terms = {"log_lik": log_lik_total, "kl_per_example": kl_total}
        if c is not None:
            self.last_terms["capacity"] = c
        if torch.is_grad_enabled():
            self.num_steps += 1
        return torch.as_tensor(loss)

    def loss(self, model, guide, *args, **kwargs) -> float:
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        if loss.requires_grad:
            loss.backward(retain_graph=self.retain_graph)
        return float(loss.detach())

    def state_dict(self) -> dict[str, int]:
        """The schedule's step counter."""
        return {"num_steps": self.num_steps}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.num_steps = int(state["num_steps"])
