r"""A tracing-free evaluation of the VAE's ELBO and importance weighted bound.

For a :class:`~pyrogen.models.VAE` whose ``model``/``guide`` are the library's own, the site
structure is static: one reparameterized latent ``z ~ N(mu(x), diag sigma(x)^2)`` and one
observed ``x ~ p(x | decoder(z))`` inside ``pyro.plate("data")``. The objective is then
evaluated straight from the networks, without Pyro's effect handlers::

    z_k = mu + sigma * eps_k,  eps_k ~ N(0, I)                     (K, B, D)
    log w_k = log p(x | z_k) + log N(z_k; 0, I) - log N(z_k; mu, sigma^2)
    ELBO:  -loss = sum_b mean_k log w_k        IWAE: -loss = sum_b [logsumexp_k log w_k - log K]

with the noise drawn exactly as Pyro draws it (``normal_`` on a ``(K, B, D)`` or ``(B, D)``
buffer, ``z = loc + eps * scale``), so on the same random state the value and gradient equal
``Trace_ELBO`` (vectorized particles) up to float rounding. ``log N(z; mu, sigma^2)`` uses
``(z - mu) / sigma = eps``, which is the same function of the parameters.

``analytic_kl=True`` replaces ``E_q[log p(z) - log q(z)]`` by ``-KL(q || N(0, I))`` in closed
form: the same expectation, a lower-variance estimator (Kingma & Welling 2014, eq. (10)).
It is an option, never the default, because it changes the gradient noise.

The structure is checked once, by tracing the model and guide on one example (random state
restored afterwards, so seeded runs do not shift); anything else (another likelihood site,
a discrete or non-reparameterized latent, extra sites, a subclass overriding ``model`` or
``guide``) raises :class:`FastPathUnavailable` and callers fall back to the Pyro path.

References:
    Auto-Encoding Variational Bayes, D. P. Kingma, M. Welling, 2014, eq. (7) and (10).
    https://arxiv.org/abs/1312.6114

    Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016, eq. (8).
    https://arxiv.org/abs/1509.00519
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import Trace_ELBO
from pyro.poutine.util import prune_subsample_sites
from torch import nn
from torch.utils.checkpoint import checkpoint

from pyrogen.models.likelihoods import Bernoulli
from pyrogen.models.vae import VAE

if TYPE_CHECKING:
    from pyrogen.infer.fast_hvae import HierarchicalObjective

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class FastPathUnavailable(ValueError):
    """The model/guide/objective is outside what the tracing-free path evaluates."""


def _objective_kind(loss: Any) -> tuple[str, int]:
    """``("elbo" | "iwae", K)`` for the objectives the fast path reproduces exactly."""
    if loss is None:
        return "elbo", 1
    if type(loss) is Trace_ELBO:
        return "elbo", int(loss.num_particles)
    # Duck-typed so this module does not depend on pyrogen.objectives.iwae being present.
    if type(loss).__name__ == "IWAE_ELBO" and getattr(loss, "estimator", None) == "reparam":
        return "iwae", int(loss.num_particles)
    raise FastPathUnavailable(
        f"the fast path evaluates Trace_ELBO and IWAE_ELBO(estimator='reparam'); got "
        f"{type(loss).__name__}"
        + (f"(estimator={loss.estimator!r})" if hasattr(loss, "estimator") else "")
    )


def check_exact_class(module: nn.Module, base: type) -> None:
    """The fast paths reproduce ``base``'s own objective, so they run only on ``base`` itself:
    not on a subclass (which may override any method they rely on) and not on an instance
    whose own attributes replace its methods (``vae.model = my_model``)."""
    cls = type(module)
    if not isinstance(module, base):
        raise FastPathUnavailable(
            f"the fast path knows pyrogen.models.{base.__name__}; got {cls.__name__}"
        )
    if cls is not base:
        overridden = sorted(
            n
            for n, f in vars(base).items()
            if callable(f) and not n.startswith("__") and getattr(cls, n, None) is not f
        )
        what = f" and overrides {', '.join(n + '()' for n in overridden)}" if overridden else ""
        raise FastPathUnavailable(
            f"{cls.__name__} subclasses {base.__name__}{what}; the fast path runs only on "
            f"{base.__name__} itself, whose objective it reproduces"
        )
    shadowed = sorted(n for n in vars(module) if callable(getattr(base, n, None)))
    if shadowed:
        raise FastPathUnavailable(
            f"the instance's own attribute(s) {shadowed} replace {base.__name__}'s methods; "
            "the fast path would optimize the class's objective, not the replacement"
        )


def _check_module(module: nn.Module) -> VAE:
    check_exact_class(module, VAE)
    if getattr(module, "flows", None) is not None:
        raise FastPathUnavailable("the guide is flow-transformed (flow=...), not a plain Normal")
    return cast(VAE, module)


def check_structure(module: nn.Module, x: torch.Tensor, latents: Sequence[str] = ("z",)) -> None:
    """Traces ``module.guide``/``module.model`` once on ``x[:1]`` and checks the sites: the
    ``latents``, each a reparameterized Normal in the guide, and an observed ``x``; nothing
    else. The global random state is restored afterwards.
    """
    devices = [x.device] if x.device.type == "cuda" else []
    guide, model = cast(Any, module).guide, cast(Any, module).model
    with torch.random.fork_rng(devices=devices), torch.no_grad(), pyro.validation_enabled(False):
        x1 = x[:1]
        guide_tr = poutine.trace(guide).get_trace(x1)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(x1)
    sites = {
        n: s
        for tr in (guide_tr, model_tr)
        for n, s in prune_subsample_sites(tr).nodes.items()
        if s["type"] == "sample"
    }
    expected = {*latents, "x"}
    if set(sites) != expected:
        raise FastPathUnavailable(
            f"expected sample sites {sorted(expected)}, found {sorted(sites)}"
        )
    for name in latents:
        q: Any = guide_tr.nodes[name]["fn"]
        base = getattr(q, "base_dist", q)
        if type(base) is not dist.Normal or not q.has_rsample:
            raise FastPathUnavailable(
                f"expected a reparameterized Normal guide for {name!r}, got {type(base).__name__}"
            )
    if not model_tr.nodes["x"]["is_observed"]:
        raise FastPathUnavailable("expected the model's 'x' site to be observed")


def log_px_given(model: Any, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | params) under ``model.likelihood``, summed over the event: ``params``'s leading
    (particle, batch) shape."""
    if type(model.likelihood) is Bernoulli:
        # torch's Bernoulli(logits).log_prob is -BCE-with-logits on broadcast values.
        lp = -F.binary_cross_entropy_with_logits(params, x.expand_as(params), reduction="none")
        return lp.reshape(*lp.shape[: lp.dim() - model.event_dim], -1).sum(-1)
    # Any other likelihood: the very distribution the model's "x" site builds.
    return model.likelihood.dist(params, model.event_dim).log_prob(x)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim."""
    return (-0.5 * z.square() - _HALF_LOG_2PI).sum(-1)


def log_normal(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, diag scale^2) summed over the last dim."""
    return (-0.5 * ((z - loc) / scale).square() - scale.log() - _HALF_LOG_2PI).sum(-1)


def log_q_at_noise(eps: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, diag scale^2) at z = loc + scale * eps, written with eps: the same
    function of the parameters as with (z - loc) / scale, without its rounding."""
    return (-0.5 * eps.square() - scale.log() - _HALF_LOG_2PI).sum(-1)


def check_bound_args(kind: str, num_particles: int) -> None:
    if kind not in ("elbo", "iwae"):
        raise ValueError(f"kind must be 'elbo' or 'iwae', got {kind!r}")
    if num_particles < 1:
        raise ValueError(f"num_particles must be >= 1, got {num_particles}")


def negative_bound(log_w: torch.Tensor, kind: str, num_particles: int) -> torch.Tensor:
    """The loss from the log weights ``(B,)`` (one particle) or ``(K, B)``, summed over the
    batch: ``-sum_b mean_k log w`` (ELBO) or ``-sum_b [logsumexp_k log w - log K]`` (IWAE)."""
    if num_particles == 1:
        return -log_w.sum()
    if kind == "iwae":
        return -(torch.logsumexp(log_w, 0) - math.log(num_particles)).sum()
    return -log_w.sum() / num_particles


class VAEObjective(nn.Module):
    r"""-ELBO or -IWAE bound of a :class:`~pyrogen.models.VAE`, summed over the batch.

    Args:
        vae: the model (its ``model``/``guide`` must be :class:`VAE`'s own).
        kind: ``"elbo"`` (mean over particles of log w) or ``"iwae"`` (logsumexp).
        num_particles: K, drawn at once (vectorized).
        analytic_kl: closed-form KL(q || p(z)) instead of the sampled log-ratio
            (``"elbo"`` only).
        particle_chunk: evaluate at most this many particles at a time, recomputing each
            chunk's activations in the backward pass (activation checkpointing): peak
            memory scales with ``particle_chunk * B`` instead of ``K * B``, for the price of
            a second forward pass; value and gradient are unchanged.

    Calling it with ``x`` ``(B, *x_shape)`` returns the 0-dim total loss (nats, summed over
    the batch; divide by B for the per-example loss). ``rows`` evaluates only the examples
    ``x[rows]`` while drawing the noise of the whole batch, so that data-parallel workers
    together use exactly the draws of one process (see :mod:`pyrogen.infer.distributed`).
    """

    def __init__(
        self,
        vae: nn.Module,
        kind: str = "elbo",
        num_particles: int = 1,
        analytic_kl: bool = False,
        particle_chunk: int | None = None,
    ):
        super().__init__()
        self.vae = _check_module(vae)
        check_bound_args(kind, num_particles)
        if analytic_kl and kind != "elbo":
            raise FastPathUnavailable("analytic_kl applies to the ELBO, not the IWAE bound")
        self.kind, self.num_particles, self.analytic_kl = kind, num_particles, analytic_kl
        if particle_chunk is not None and particle_chunk < 1:
            raise ValueError(f"particle_chunk must be >= 1 or None, got {particle_chunk}")
        self.particle_chunk = particle_chunk
        self.checked = False
        # Replaced by a compiled version of itself by SVITrainer(compile=True).
        self.loss_fn = self.loss_from_noise

    def draw_noise(self, batch: int) -> torch.Tensor:
        """eps ~ N(0, I), ``(B, D)`` for one particle else ``(K, B, D)``, drawn as Pyro does."""
        vae = self.vae
        shape: tuple[int, ...] = (batch, vae.z_dim)
        if self.num_particles > 1:
            shape = (self.num_particles, *shape)
        w = vae.loc_head.weight
        return torch.empty(shape, dtype=w.dtype, device=w.device).normal_()

    def log_weights(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``log p(x, z) - log q(z | x)`` at ``z = mu(x) + sigma(x) * eps``: eps's shape
        without the last dim, ``(B,)`` or ``(K, B)``. A pure function: no random draws."""
        vae = self.vae
        loc, scale = vae.encode(x)
        z = loc + eps * scale
        log_px = log_px_given(vae, vae.decode(z), x)
        if self.analytic_kl:
            kl = 0.5 * (loc.square() + scale.square() - 1).sum(-1) - scale.log().sum(-1)
            return log_px - kl
        return log_px + log_standard_normal(z) - log_q_at_noise(eps, scale)

    def loss_from_noise(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The summed loss at given noise (the part worth compiling)."""
        chunk = self.particle_chunk
        if chunk is None or self.num_particles <= chunk:
            log_w = self.log_weights(x, eps)
        else:
            # eps is (K, B, D): only each chunk's inputs and its (k, B) output are kept.
            parts = [
                checkpoint(self.log_weights, x, e, use_reentrant=False)
                for e in eps.split(chunk, dim=0)
            ]
            log_w = torch.cat(parts, 0)
        return negative_bound(log_w, self.kind, self.num_particles)

    def check(self, x: torch.Tensor) -> None:
        """Once: the data's shape and the model's site structure (raises
        :class:`FastPathUnavailable` when the structure is not the VAE's)."""
        if not self.checked:
            self.vae.check_x(x)
            check_structure(self.vae, x)
            self.checked = True

    def forward(self, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        self.check(x)
        eps = self.draw_noise(x.shape[0])
        if rows is not None:
            x, eps = x[rows], eps[..., rows, :]
        return self.loss_fn(x, eps)


def fast_objective(
    module: nn.Module,
    loss: Any = None,
    analytic_kl: bool = False,
    particle_chunk: int | None = None,
) -> VAEObjective | HierarchicalObjective:
    """The tracing-free objective equal to ``loss`` on ``module`` (a :class:`VAE` or a
    :class:`~pyrogen.models.HierarchicalVAE`), or :class:`FastPathUnavailable` saying why
    there is none.

    With K > 1 particles the noise is one ``(K, B, D)`` draw, as in
    ``Trace_ELBO(num_particles=K, vectorize_particles=True)``; Pyro's default loop over
    particles draws K ``(B, D)`` buffers instead: the same estimator, other random numbers.
    """
    kind, k = _objective_kind(loss)
    from pyrogen.models.hierarchical_vae import HierarchicalVAE

    if isinstance(module, HierarchicalVAE):
        from pyrogen.infer.fast_hvae import HierarchicalObjective

        if analytic_kl:
            raise FastPathUnavailable("analytic_kl is for the one-layer VAE's Gaussian prior")
        if particle_chunk is not None:
            raise FastPathUnavailable("particle_chunk is for the one-layer VAE")
        return HierarchicalObjective(module, kind, k)
    return VAEObjective(module, kind, k, analytic_kl, particle_chunk)
