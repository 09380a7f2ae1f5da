r"""beta-VAE objectives: a weighted KL term, a KL warm-up, and a KL held near a capacity C(t).

One objective, :class:`BetaELBO`, covers the KL re-weightings of the field::

    beta-VAE   (Higgins et al. 2017):  E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))
    warm-up    (Bowman et al. 2016):   the same with beta_t rising over training
                                       (:class:`LinearWarmup`), or a constant beta < 1
    capacity   (Burgess et al. 2018):  E_q[log p(x|z)] - gamma * | KL(q(z|x) || p(z)) - C(t) |

The KL is either the single-sample estimate log q(z|x) - log p(z) at z ~ q that
:class:`pyro.infer.Trace_ELBO` uses (``kl="sampled"``: at beta = 1 the loss and gradient are
exactly ``Trace_ELBO``'s), or the closed form per latent unit of
:func:`~pyrogen.objectives.analytic_kl.elbo_terms` (``kl="closed_form"``: at beta = 1 exactly
``TraceMeanField_ELBO``'s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pyro.util import warn_if_nan

from pyrogen.objectives.analytic_kl import elbo_terms
from pyrogen.objectives.penalized_elbo import PenalizedELBO


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


@dataclass
class LinearWarmup:
    r"""beta_t = start + (end - start) * min(1, t / num_steps): a linear KL warm-up.

    Args:
        num_steps: training steps over which beta moves from ``start`` to ``end``.
        start: beta at step 0.
        end: beta from step ``num_steps`` on.

    Example:
        >>> warmup = LinearWarmup(4)
        >>> [warmup(t) for t in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]

    References:
        Generating Sentences from a Continuous Space, S. R. Bowman, L. Vilnis, O. Vinyals,
        A. M. Dai, R. Jozefowicz, S. Bengio, 2016, sec. 3.1 (KL annealing).
        https://arxiv.org/abs/1511.06349
        Ladder Variational Autoencoders, C. K. Sonderby, T. Raiko, L. Maaloe, S. K. Sonderby,
        O. Winther, 2016, sec. 2.3 (warm-up). https://arxiv.org/abs/1602.02282
    """

    num_steps: int
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self) -> None:
        if self.num_steps <= 0 or self.start < 0 or self.end < 0:
            raise ValueError(
                f"LinearWarmup needs num_steps > 0 and start, end >= 0, got "
                f"num_steps={self.num_steps}, start={self.start}, end={self.end}"
            )

    def __call__(self, step: int) -> float:
        return self.start + (self.end - self.start) * min(1.0, step / self.num_steps)


class BetaELBO(PenalizedELBO):
    r"""Negative beta-VAE bound: a weighted KL, optionally scheduled or held at a capacity C(t).

    Without ``capacity`` the loss is, summed over the data plate,

        -sum_i ( E_q[log p(x_i|z)] - beta_t * KL(q(z|x_i) || p(z)) ),

    and with a capacity C(t) (nats per example) the KL penalty becomes
    ``beta * N * |mean_i KL_i - C(t)|`` over the N examples of the ``"data"`` plate: the
    batch-average KL is pulled to C(t) from either side (Burgess et al., eq. 8).

    The schedules' step counter ``num_steps`` advances once per call made with gradients
    enabled (a training step); evaluation under :func:`torch.no_grad` leaves it alone. It
    is part of :meth:`state_dict` for resumption.

    Args:
        beta: weight of the KL term (gamma in Burgess et al.): a number, or a schedule
            ``step -> beta`` such as :class:`LinearWarmup` (KL warm-up).
        capacity: ``None`` (plain beta-VAE), a constant C in nats, or a schedule
            ``step -> C`` such as :class:`LinearCapacity`.
        num_particles: samples z ~ q per example (``kl="sampled"``); losses are averaged.
        kl: ``"sampled"`` (log q - log p at z ~ q, as ``Trace_ELBO``) or ``"closed_form"``
            (per latent unit where torch has it, as ``TraceMeanField_ELBO``; one particle).
        **kwargs: forwarded to :class:`pyro.infer.ELBO`.

    Example:
        >>> import torch, pyro
        >>> from pyro.infer import Trace_ELBO
        >>> from pyrogen.objectives import BetaELBO
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

        Generating Sentences from a Continuous Space, S. R. Bowman et al., 2016, sec. 3.1.
        https://arxiv.org/abs/1511.06349
    """

    def __init__(
        self,
        beta: float | Callable[[int], float] = 1.0,
        capacity: float | Callable[[int], float] | None = None,
        num_particles: int = 1,
        kl: str = "sampled",
        **kwargs: Any,
    ):
        _check_weight("beta", beta, allow_none=False)
        _check_weight("capacity", capacity, allow_none=True)
        if kl not in ("sampled", "closed_form"):
            raise ValueError(f"kl must be 'sampled' or 'closed_form', got {kl!r}")
        if kl == "closed_form" and num_particles != 1:
            raise ValueError(
                f"kl='closed_form' evaluates one particle; got num_particles={num_particles}"
            )
        super().__init__(num_particles=num_particles, **kwargs)
        self.schedule = beta
        self.capacity = capacity
        self.kl = kl
        self.last_terms: dict[str, float] = {}

    @property
    def beta(self) -> float:
        """The KL weight at the current step."""
        if callable(self.schedule):
            return float(self.schedule(self.num_steps))
        return float(self.schedule)

    @property
    def is_bound(self) -> bool:  # type: ignore[override]
        """Whether -loss is the ELBO itself: a constant beta = 1 without a capacity target."""
        return not callable(self.schedule) and self.beta == 1.0 and self.capacity is None

    def current_capacity(self) -> float | None:
        """C(t) at the current step, or ``None`` for the plain beta-VAE objective."""
        if self.capacity is None:
            return None
        if callable(self.capacity):
            return float(self.capacity(self.num_steps))
        return float(self.capacity)

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

    def _particles(self, model, guide, args, kwargs):
        """(summed log-likelihood, summed KL, data-plate size) of each particle."""
        if self.kl == "closed_form":
            terms = elbo_terms(model, guide, *args, **kwargs)
            yield terms.log_lik.sum(), terms.total_kl.sum(), terms.log_lik.shape[0]
            return
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            yield self._terms(model_trace, guide_trace)

    def penalized_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        c, beta = self.current_capacity(), self.beta
        loss: Any = 0.0
        log_lik_total = kl_total = 0.0
        for log_lik, kl, n in self._particles(model, guide, args, kwargs):
            penalty = kl if c is None else (kl - n * c).abs()
            loss = loss + (-log_lik + beta * penalty) / self.num_particles
            log_lik_total += float(log_lik.detach()) / self.num_particles
            kl_total += float(kl.detach()) / (self.num_particles * n)
        warn_if_nan(loss, "loss")
        self.last_terms = {"log_lik": log_lik_total, "kl_per_example": kl_total, "beta": beta}
        if c is not None:
            self.last_terms["capacity"] = c
        return torch.as_tensor(loss)


def _check_weight(name: str, value: Any, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        return
    if not callable(value):
        raise TypeError(
            f"{name} must be {'None, ' if allow_none else ''}a number or a callable "
            f"step -> value, got {type(value).__name__}"
        )
