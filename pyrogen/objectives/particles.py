r"""Vectorized particles and per-example log weights, shared by the gradient estimators.

For K particles drawn from the guide and B examples in the data plate, every estimator here
works with the matrix of log importance weights

    log w_{k,b} = log p(x_b, z_{k,b}) - log q(z_{k,b} | x_b),    shape (K, B),

where each term sums every sample site of example b (sites in plates nested inside the data
plate are summed too). A latent outside the data plate (a global latent) couples the
examples; objectives defined for any model then take the whole trace as one example,

    log w_k = log p(x, z_k) - log q(z_k | x),    shape (K, 1),

every site summed with its own scale. :class:`ParticleELBO` runs the guide and the model once
under an outermost particle plate, checks that the plates allow these weights, and derives
``loss`` and ``loss_and_grads`` from the subclass's ``differentiable_loss``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pyro
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.infer import ELBO
from pyro.infer.util import is_validation_enabled
from pyro.poutine.messenger import Messenger
from pyro.poutine.trace_struct import Trace
from pyro.poutine.util import prune_subsample_sites
from pyro.util import check_model_guide_match

PARTICLE_PLATE = "num_particles_vectorized"


@dataclass
class Particles:
    """One vectorized draw of K particles.

    Attributes:
        guide_trace: the guide's trace (subsample sites kept, so that it can be replayed).
        values: latent values ``{name: (K, ..., B, ..., *event)}`` sampled by the guide.
        model_values: the latent values the model was run with.
        log_p: ``(K, B)`` log p(x_b, z_{k,b}), every model site of example b summed
            (``(K, 1)`` for the whole trace).
        log_q: ``(K, B)`` log q(z_{k,b} | x_b), every guide site of example b summed
            (``(K, 1)`` for the whole trace).
        scale: the common scale of all sites (the data plate's subsampling factor); 1 for
            the whole trace, whose sums already carry each site's scale.
        whole_trace: whether a global latent made the whole trace one example.
    """

    guide_trace: Trace
    values: dict[str, torch.Tensor]
    model_values: dict[str, torch.Tensor]
    log_p: torch.Tensor
    log_q: torch.Tensor
    scale: float
    whole_trace: bool = False

    @property
    def log_w(self) -> torch.Tensor:
        """``(K, B)`` log importance weights log p - log q."""
        return self.log_p - self.log_q


class _DetachSamples(Messenger):
    """Draws every latent without a path to the guide's parameters, so that later guide
    sites depend on earlier ones only through their values (score-function estimators)."""

    def _pyro_sample(self, msg: Any) -> None:
        if msg["done"] or msg["is_observed"] or msg["value"] is not None:
            return
        msg["value"] = msg["fn"](*msg["args"], **msg["kwargs"]).detach()
        msg["done"] = True


class ParticleELBO(ELBO):
    """Base class: vectorized particles and per-example log weights under a data plate.

    Args:
        num_particles: K, the number of particles drawn per example (all at once).
        data_plate: name of the plate over independent examples. Every sample site must lie
            inside it and every other vectorized plate must be nested inside it. A model with
            no vectorized plate at all is treated as a single example. When some sites lie
            inside it and some outside (a global latent), subclasses that set
            ``whole_trace_if_global`` treat the whole trace as one example and the others
            raise ``ValueError``.
        max_plate_nesting: number of plates in the model (without the particle plate);
            guessed by one extra run of the guide and model when not given.
    """

    #: Whether a global latent makes the whole trace one example (``log w`` of shape
    #: ``(K, 1)``) instead of an error: true for objectives defined for any model.
    whole_trace_if_global: ClassVar[bool] = False

    def __init__(
        self,
        num_particles: int = 1,
        data_plate: str = "data",
        max_plate_nesting: int | None = None,
    ):
        if isinstance(num_particles, bool) or not isinstance(num_particles, int):
            raise TypeError(f"num_particles must be an int, got {type(num_particles).__name__}")
        if num_particles < 1:
            raise ValueError(f"num_particles must be >= 1, got {num_particles}")
        super().__init__(num_particles=num_particles, vectorize_particles=True)
        self.data_plate = data_plate
        self.plate_nesting = max_plate_nesting

    # -- loss and loss_and_grads derive from differentiable_loss -------------------------
    @abc.abstractmethod
    def differentiable_loss(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any):
        """The estimator's surrogate loss; each subclass states its math here."""

    def loss(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        """The objective's value as a float (no gradients are built)."""
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        """Backpropagates the estimator's gradient into the parameters; returns the loss."""
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward(retain_graph=self.retain_graph)
        return float(loss.detach())

    def _get_trace(self, model, guide, args, kwargs):
        # pyro.infer.ELBO's hook for its own particle loop, which these estimators replace.
        raise NotImplementedError(f"{type(self).__name__} draws its particles in _particles()")

    # -- running the particles -----------------------------------------------------------
    def _plated(self, fn: Callable) -> Callable:
        assert self.plate_nesting is not None
        return pyro.plate(PARTICLE_PLATE, self.num_particles, dim=-(self.plate_nesting + 1))(fn)

    def _guess_plate_nesting(self, model: Callable, guide: Callable, args, kwargs) -> int:
        # fork_rng: the extra run must not shift the random stream the estimate then uses.
        with torch.random.fork_rng(devices=[]), poutine.block():
            guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
                *args, **kwargs
            )
        dims = [
            frame.dim
            for trace in (model_trace, guide_trace)
            for site in trace.nodes.values()
            if site["type"] == "sample"
            for frame in site["cond_indep_stack"]
            if frame.vectorized and frame.dim is not None
        ]
        return -min(dims) if dims else 0

    def _run_guide(
        self, model: Callable, guide: Callable, args, kwargs, detach: bool = False
    ) -> Trace:
        if self.plate_nesting is None:
            self.plate_nesting = self._guess_plate_nesting(model, guide, args, kwargs)
        fn = self._plated(guide)
        if detach:
            fn = _DetachSamples()(fn)
        return poutine.trace(fn).get_trace(*args, **kwargs)

    def _replay(
        self, fn: Callable, guide_trace: Trace, values: dict[str, torch.Tensor], args, kwargs
    ):
        """Runs ``fn`` with the guide's latents set to ``values`` (same plates, same subsample)."""
        trace = guide_trace.copy()
        for name, value in values.items():
            site: Any = dict(guide_trace.nodes[name], value=value)
            trace.nodes[name] = site
        return poutine.trace(poutine.replay(self._plated(fn), trace=trace)).get_trace(
            *args, **kwargs
        )

    def _particles(
        self,
        model: Callable,
        guide: Callable,
        args: tuple,
        kwargs: dict,
        detach: bool = False,
        model_values: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
        guide_trace: Trace | None = None,
    ) -> Particles:
        """Draws K particles; ``detach`` cuts the path from the guide's parameters to z (score
        function estimators); ``model_values`` maps the latents before the model sees them;
        ``guide_trace`` reuses a guide run from :meth:`_run_guide`."""
        if guide_trace is None:
            guide_trace = self._run_guide(model, guide, args, kwargs, detach)
        values: dict[str, Any] = {
            name: site["value"]
            for name, site in prune_subsample_sites(guide_trace).nodes.items()
            if site["type"] == "sample"
        }
        model_in = model_values(values) if model_values is not None else values
        model_trace = self._replay(model, guide_trace, model_in, args, kwargs)
        if is_validation_enabled():
            assert self.plate_nesting is not None
            check_model_guide_match(model_trace, guide_trace, self.plate_nesting + 1)
        q_sites = dict(prune_subsample_sites(guide_trace).nodes)
        p_sites = dict(prune_subsample_sites(model_trace).nodes)
        whole = self._is_whole_trace(q_sites, p_sites)
        log_q, scale_q = self._sum_per_example(q_sites, whole)
        log_p, scale_p = self._sum_per_example(p_sites, whole)
        if scale_q != scale_p:
            raise ValueError(
                f"model sites are scaled by {scale_p} but guide sites by {scale_q}; "
                f"{type(self).__name__} needs one common scale (the data plate's subsampling)"
            )
        return Particles(guide_trace, values, model_in, log_p, log_q, scale_p, whole)

    def guide_log_q(
        self,
        guide: Callable,
        guide_trace: Trace,
        values: dict[str, torch.Tensor],
        args,
        kwargs,
        whole_trace: bool = False,
    ) -> torch.Tensor:
        """``(K, B)`` log q of the guide replayed at ``values`` (recomputes every conditional);
        ``(K, 1)`` when ``whole_trace`` (pass :attr:`Particles.whole_trace`)."""
        trace = self._replay(guide, guide_trace, values, args, kwargs)
        return self._sum_per_example(dict(prune_subsample_sites(trace).nodes), whole_trace)[0]

    # -- per-example sums ----------------------------------------------------------------
    def _data_dim(self, name: str, site: Any) -> int | None:
        frames = [f for f in site["cond_indep_stack"] if f.vectorized and f.name != PARTICLE_PLATE]
        data = [f for f in frames if f.name == self.data_plate]
        what = type(self).__name__
        if not data:
            if frames:
                raise ValueError(
                    f"{what} weights each example of the plate {self.data_plate!r} separately, "
                    f"but site {name!r} lies in plate(s) {[f.name for f in frames]} and not in "
                    f"{self.data_plate!r}; put every sample site inside "
                    f"pyro.plate({self.data_plate!r}, ...) or pass data_plate=<your plate name>"
                )
            return None
        outer = [f.name for f in frames if f.dim < data[0].dim]
        if outer:
            raise ValueError(
                f"{what}: plate(s) {outer} enclose the data plate {self.data_plate!r} at site "
                f"{name!r}; other plates must be nested inside the data plate"
            )
        return data[0].dim

    def _in_data_plate(self, site: Any) -> bool:
        return any(f.name == self.data_plate for f in site["cond_indep_stack"] if f.vectorized)

    def _is_whole_trace(self, *traces: dict[str, Any]) -> bool:
        """A global latent: some sample sites lie inside the data plate and some outside it,
        and this objective takes the whole trace as one example then."""
        if not self.whole_trace_if_global:
            return False
        inside = [
            self._in_data_plate(site)
            for sites in traces
            for site in sites.values()
            if site["type"] == "sample"
        ]
        return any(inside) and not all(inside)

    def _sum_whole_trace(self, sites: dict[str, Any]) -> tuple[torch.Tensor, float]:
        """``(K, 1)`` sum of every site's scaled log-density (Trace_ELBO's per-site sum)."""
        n = self.plate_nesting
        assert n is not None
        total: torch.Tensor | float = 0.0
        for name, site in sites.items():
            if site["type"] != "sample":
                continue
            lp = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
            lp = scale_and_mask(lp, site["scale"], site["mask"])
            if lp.dim() > n + 1:
                raise ValueError(
                    f"site {name!r} has log_prob shape {tuple(lp.shape)}: more batch dims than "
                    f"the {n} plate(s) and the particle plate; use .to_event() for event dims"
                )
            lp = lp.reshape((1,) * (n + 1 - lp.dim()) + lp.shape)
            total = total + lp.reshape(lp.shape[0], -1).sum(-1, keepdim=True)  # (K, 1)
        if not isinstance(total, torch.Tensor):
            total = torch.zeros(())
        return total, 1.0

    def _sum_per_example(
        self, sites: dict[str, Any], whole_trace: bool = False
    ) -> tuple[torch.Tensor, float]:
        if whole_trace:
            return self._sum_whole_trace(sites)
        n = self.plate_nesting
        assert n is not None
        total: torch.Tensor | float = 0.0
        scales, data_dims = set(), {}
        for name, site in sites.items():
            if site["type"] != "sample":
                continue
            data_dims[name] = ddim = self._data_dim(name, site)
            lp = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
            lp = scale_and_mask(lp, 1.0, site["mask"])
            if lp.dim() > n + 1:
                raise ValueError(
                    f"site {name!r} has log_prob shape {tuple(lp.shape)}: more batch dims than "
                    f"the {n} plate(s) and the particle plate; use .to_event() for event dims"
                )
            lp = lp.reshape((1,) * (n + 1 - lp.dim()) + lp.shape)
            keep = {0} if ddim is None else {0, n + 1 + ddim}
            other = [i for i in range(n + 1) if i not in keep]
            if other:
                lp = lp.sum(other, keepdim=True)
            total = total + lp.reshape(lp.shape[0], -1)  # (K, B) or (K, 1)
            scale = site["scale"]
            scales.add(float(scale) if isinstance(scale, torch.Tensor) else scale)
        if None in data_dims.values() and any(d is not None for d in data_dims.values()):
            outside = [name for name, d in data_dims.items() if d is None]
            raise ValueError(
                f"{type(self).__name__}: site(s) {outside} lie outside the data plate "
                f"{self.data_plate!r}; a global latent couples the examples, so per-example "
                f"importance weights are undefined. STL_ELBO, IWAE_ELBO and VIMCO_ELBO take "
                f"such a trace as one example; so do pyro.infer.TraceGraph_ELBO (the ELBO) "
                f"and pyro.infer.RenyiELBO(alpha=0) (the K-sample bound)"
            )
        if len(scales) > 1:
            raise ValueError(
                f"{type(self).__name__} needs one common scale for all sites, got {sorted(scales)}"
            )
        if not isinstance(total, torch.Tensor):  # e.g. a guide with no latents
            total = torch.zeros(())
        return total, scales.pop() if scales else 1.0

    @staticmethod
    def _require_reparam(guide_trace: Trace, what: str) -> None:
        for name, site in prune_subsample_sites(guide_trace).nodes.items():
            fn: Any = site.get("fn")
            if site["type"] == "sample" and not fn.has_rsample:
                raise ValueError(
                    f"{what} needs reparameterizable guide sites, but site {name!r} has "
                    f"{type(fn).__name__} with no rsample; use VIMCO_ELBO or "
                    f"ScoreFunction_ELBO for discrete latents"
                )
