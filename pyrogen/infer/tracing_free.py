r"""The ELBO of any model and guide whose latents are reparameterized, without Pyro's traces.

For a guide whose every sample site is reparameterizable, ``Trace_ELBO`` computes

    -loss = sum_{model sites s} log p_s(v_s) - sum_{guide sites s} log q_s(v_s),
            v ~ q (reparameterized), each term scaled and masked as its plates say,

and its gradient is that of the same expression (no score-function term). Pyro gets there
by recording two full traces (every message copied into a graph), replaying one into the
other, then walking both. :class:`TracingFree_ELBO` runs the guide and then the model under
one light handler that scores each site the moment it is drawn and keeps only the guide's
values: the same expression, the same random draws (the guide draws first, exactly as
under ``Trace_ELBO``), hence the same value and gradient up to float rounding, with much
less Python per step.

It applies where that expression *is* Trace_ELBO: every guide site reparameterizable and
not enumerated, the model's latent sites exactly the guide's (besides auxiliary guide sites,
such as an AutoGuide's unconstrained draws, which are scored in the guide alone).
:func:`check_tracing_free` verifies this on real traces once; anything else raises
:class:`~pyrogen.infer.fast_elbo.FastPathUnavailable`, and the trainer keeps Pyro's path.

References:
    Auto-Encoding Variational Bayes, D. P. Kingma, M. Welling, 2014, eq. (3) and (7).
    https://arxiv.org/abs/1312.6114
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from pyro import poutine
from pyro.infer import ELBO
from pyro.infer.enum import get_importance_trace
from pyro.poutine.messenger import Messenger
from pyro.poutine.subsample_messenger import _Subsample

from pyrogen.infer.fast_elbo import FastPathUnavailable
from pyrogen.infer.site_scores import (
    draw_normal,
    neg_log_normal_at_noise,
    neg_log_prob_sum,
    reparam_normal,
)


class _ScoreSites(Messenger):
    """Adds ``-sum(scale * mask * log_prob)`` of every sample site to ``neg`` (tensors) and
    ``const`` (the parts that are plain numbers) as it is drawn; in replay mode, sets each
    latent to the value the guide drew."""

    def __init__(self, replay: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.replay = replay
        self.values: dict[str, torch.Tensor] = {}
        self._noise: dict[str, tuple[Any, torch.Tensor]] = {}  # (Normal, eps) by site
        self.neg: torch.Tensor | None = None
        self.const: torch.Tensor | float = 0.0

    def _pyro_sample(self, msg: Any) -> None:
        fn = msg["fn"]
        if isinstance(fn, _Subsample) and msg["value"] is None:
            if fn.subsample_size is None or fn.subsample_size >= fn.size:
                # A plate over all its data: its indices are 0..size-1, as _Subsample draws.
                msg["value"], msg["done"] = torch.arange(fn.size, device=fn.device), True
            return
        if self.replay is None:
            self._draw(msg)
            return
        if msg["is_observed"]:
            return
        value = self.replay.get(msg["name"])
        if value is None and isinstance(msg["fn"], _Subsample):
            return  # a plate the guide does not have draws its own indices, as in Pyro
        if value is None:
            raise FastPathUnavailable(
                f"the model samples {msg['name']!r}, which the guide does not"
            )
        msg["value"], msg["done"] = value, True

    def _draw(self, msg: Any) -> None:
        """A guide's reparameterized Normal, drawn here to keep its noise for log q."""
        if msg["done"] or msg["value"] is not None or msg["args"] or msg["kwargs"]:
            return
        normal = reparam_normal(msg["fn"])
        if normal is None or msg["mask"] not in (None, True):
            return
        fn = msg["fn"]
        msg["value"], eps = draw_normal(normal, fn.batch_shape + fn.event_shape)
        self._noise[msg["name"]] = (normal, eps)
        msg["done"] = True

    def _pyro_post_sample(self, msg: Any) -> None:
        fn, name = msg["fn"], msg["name"]
        if self.replay is None:
            self.values[name] = msg["value"]
        if isinstance(fn, _Subsample) or msg["infer"].get("_deterministic"):
            return
        scale, mask = msg["scale"], msg["mask"]
        if mask is False:
            return
        drawn = self._noise.pop(name, None)
        if drawn is not None:
            neg, const = neg_log_normal_at_noise(*drawn)
        elif mask is None or mask is True:
            neg, const = neg_log_prob_sum(fn, msg["value"])
        else:
            lp = fn.log_prob(msg["value"], *msg["args"], **msg["kwargs"])
            neg, const = torch.where(mask, lp, lp.new_zeros(())).sum().neg(), 0.0
        if not (isinstance(scale, (int, float)) and scale == 1.0):
            neg, const = neg * scale, const * scale
        self.neg = neg if self.neg is None else self.neg + neg
        if isinstance(const, torch.Tensor) or const:
            self.const = self.const + const


class TracingFree_ELBO(ELBO):
    r"""-ELBO = -(1/K) sum_k [log p(x, z_k) - log q(z_k | x)], z_k ~ q reparameterized:
    :class:`~pyro.infer.Trace_ELBO`'s value and gradient, scored as the sites are drawn.

    Args:
        num_particles: K, drawn one after the other as ``Trace_ELBO`` draws them (its
            default, ``vectorize_particles=False``), so the random draws are the same.

    Example:
        >>> import torch, pyro, pyro.distributions as dist
        >>> from pyro.infer import Trace_ELBO
        >>> def model(x):
        ...     with pyro.plate("data", len(x)):
        ...         z = pyro.sample("z", dist.Normal(0.0, 1.0))
        ...         pyro.sample("x", dist.Normal(z, 1.0), obs=x)
        >>> def guide(x):
        ...     with pyro.plate("data", len(x)):
        ...         pyro.sample("z", dist.Normal(x / 3, 0.8))
        >>> x = torch.tensor([0.5, -1.0, 2.0])
        >>> pyro.set_rng_seed(0); ours = TracingFree_ELBO().loss(model, guide, x)
        >>> pyro.set_rng_seed(0); pyros = Trace_ELBO().loss(model, guide, x)
        >>> abs(ours - pyros) < 1e-5
        True

    References:
        Auto-Encoding Variational Bayes, D. P. Kingma, M. Welling, 2014, eq. (7).
        https://arxiv.org/abs/1312.6114
    """

    def __init__(self, num_particles: int = 1):
        super().__init__(num_particles=num_particles)

    def differentiable_loss(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        losses = []
        for _ in range(self.num_particles):
            q = _ScoreSites()
            with q:
                guide(*args, **kwargs)
            p = _ScoreSites(replay=q.values)
            with p:
                model(*args, **kwargs)
            # -(log p - log q) = (-log p) - (-log q)
            if p.neg is not None:
                loss = p.neg if q.neg is None else p.neg - q.neg
            elif q.neg is not None:
                loss = q.neg.neg()
            else:
                raise FastPathUnavailable("the model and guide have no sample site to score")
            const = p.const - q.const
            losses.append(loss + const if isinstance(const, torch.Tensor) or const else loss)
        return losses[0] if len(losses) == 1 else sum(losses) / self.num_particles

    def loss(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())

    def _get_trace(self, model, guide, args, kwargs):
        """Pyro's traces of one particle, for :class:`pyro.infer.ELBO`'s own utilities (the
        loss above never records them)."""
        return get_importance_trace("flat", self.max_plate_nesting, model, guide, args, kwargs)


def check_tracing_free(model: Callable, guide: Callable, args: tuple, kwargs: dict) -> None:
    """Traces ``guide`` and ``model`` once and checks that :class:`TracingFree_ELBO` is
    ``Trace_ELBO`` on them; raises :class:`FastPathUnavailable` saying what is not."""
    with poutine.block(), torch.random.fork_rng(devices=[]), torch.no_grad():
        guide_tr = poutine.trace(guide).get_trace(*args, **kwargs)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args, **kwargs)
    latent: dict[str, set[str]] = {"guide": set(), "model": set()}
    for role, tr in (("guide", guide_tr), ("model", model_tr)):
        for name, site in tr.nodes.items():
            if site["type"] != "sample" or isinstance(site["fn"], _Subsample):
                continue
            infer = site.get("infer") or {}
            if infer.get("enumerate"):
                raise FastPathUnavailable(f"{role} site {name!r} is enumerated")
            if infer.get("_deterministic"):
                continue
            if role == "guide" and site["is_observed"]:
                raise FastPathUnavailable(f"the guide observes {name!r}")
            fn: Any = site["fn"]
            if role == "guide" and not fn.has_rsample:
                raise FastPathUnavailable(
                    f"guide site {name!r} ({type(site['fn']).__name__}) is not "
                    "reparameterizable: its gradient needs Pyro's score-function terms"
                )
            if not site["is_observed"] and not infer.get("is_auxiliary"):
                latent[role].add(name)
    if latent["guide"] != latent["model"]:
        raise FastPathUnavailable(
            f"the guide samples {sorted(latent['guide'])} but the model's latents are "
            f"{sorted(latent['model'])}"
        )
