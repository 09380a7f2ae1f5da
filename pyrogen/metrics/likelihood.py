r"""Importance-sampled marginal likelihood and bits per dimension.

log p(x) = log E_{q(z|x)}[p(x, z) / q(z|x)]
         ~ logsumexp_s [log p(x, z_s) - log q(z_s|x)] - log S,   z_s ~ q(z|x),

a consistent estimator that lower-bounds log p(x) in expectation and tightens as S grows
(Burda et al. 2016, eq. (8) with k = S). Particles are drawn in chunks and combined with a
running logsumexp, so memory is bounded by ``chunk_size * batch_size`` whatever S is.

A conditional model ``model(x, y)`` gets its extra arguments with ``args``/``kwargs`` and
the estimate is log p(x | y). Latent sites of the model that the guide does not sample are
handled as TraceEnum_ELBO handles them: a site marked ``infer={"enumerate": "parallel"}`` is
summed out exactly, log p(x, z) = log sum_c p(x, z, c); any other is drawn from its prior,
which is then its proposal, so its density cancels from the weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import prune_subsample_sites

from pyrogen.validation import check_model_input

GlobalLatents = Literal["error", "posterior"]


def _is_local(site: Any) -> bool:
    return any(f.name == "data" for f in site["cond_indep_stack"])


def global_latent_sites(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> list[str]:
    """Names of the latent sites of ``model`` and ``guide`` outside ``pyro.plate("data")``
    (global latents, e.g. a Bayesian model's weights), found by running both once on
    ``(*args, **kwargs)`` without changing the random state.

    Raises:
        ValueError: an observed site lies outside the data plate, so it has no
            per-example likelihood.
    """
    with torch.random.fork_rng(devices=[]):
        guide_tr = poutine.trace(guide).get_trace(*args, **kwargs)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args, **kwargs)
    found = []
    for tr in (guide_tr, model_tr):
        for name, site in prune_subsample_sites(tr).nodes.items():
            if site["type"] != "sample" or _is_local(site):
                continue
            if site["is_observed"]:
                raise ValueError(
                    f"log_likelihood needs every observed site inside pyro.plate('data'), "
                    f"but {name!r} is outside it"
                )
            if (site["infer"] or {}).get("is_auxiliary"):
                continue  # an AutoGuide's unconstrained copy of a site listed by its name
            if name not in found:
                found.append(name)
    return found


def _weights(
    model: Callable[..., Any],
    guide: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    particles: int | None,
) -> torch.Tensor:
    """log p(x, z) - log q(z | x) per example: ``(particles, B)`` for particles drawn at
    once in a plate at dim -2, or ``(B,)`` for one draw without a particle plate
    (``particles=None``, for models with global latents, which need not broadcast)."""
    b = args[0].shape[0]
    shape = (b,) if particles is None else (particles, b)
    batch_dims = len(shape)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        # The data plate is dim -1 by convention; particles go to dim -2.
        return fn if particles is None else pyro.plate("_is_particles", particles, dim=-2)(fn)

    guide_tr = poutine.trace(wrap(guide)).get_trace(*args, **kwargs)
    # Enumerated sites take the dims left of the particle and data dims.
    model_fn = poutine.enum(wrap(model), first_available_dim=-1 - batch_dims)
    model_tr = poutine.trace(poutine.replay(model_fn, trace=guide_tr)).get_trace(*args, **kwargs)
    guide_tr, model_tr = prune_subsample_sites(guide_tr), prune_subsample_sites(model_tr)
    guided = {n for n, s in guide_tr.nodes.items() if s["type"] == "sample"}
    model_tr.compute_log_prob()
    guide_tr.compute_log_prob()
    log_p: torch.Tensor | float = 0.0
    for name, site in model_tr.nodes.items():
        if site["type"] != "sample" or not _is_local(site):
            continue  # a global latent: drawn from the guide, no per-example weight
        enumerated = (site["infer"] or {}).get("_enumerate_dim") is not None
        if not (site["is_observed"] or name in guided or enumerated):
            continue  # drawn from its prior, its proposal: p / p cancels
        log_p = log_p + site["log_prob"]  # (*enum, particles, B): enum dims broadcast
    assert isinstance(log_p, torch.Tensor), "the model has no observed site in the data plate"
    if log_p.dim() > batch_dims:  # sum out the enumerated values: log sum_c p(x, z, c)
        log_p = log_p.logsumexp(dim=tuple(range(log_p.dim() - batch_dims)))
    log_w = log_p.reshape(shape) if log_p.numel() == math.prod(shape) else log_p.expand(shape)
    for site in guide_tr.nodes.values():
        if site["type"] == "sample" and _is_local(site):
            log_w = log_w - site["log_prob"].reshape(shape)
    return log_w


def _batched(
    x: torch.Tensor, args: Sequence[torch.Tensor], kwargs: Mapping[str, torch.Tensor]
) -> None:
    named = [(f"args[{i}]", a) for i, a in enumerate(args)]
    for name, t in named + [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]:
        if not isinstance(t, torch.Tensor) or t.dim() == 0 or t.shape[0] != x.shape[0]:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(
                f"every extra model argument needs one row per example of x "
                f"({x.shape[0]} rows); {name} is {shape}"
            )


@torch.no_grad()
def log_likelihood(
    model: Any,
    guide: Callable[..., Any] | None = None,
    x: torch.Tensor | None = None,
    num_samples: int = 5000,
    batch_size: int = 100,
    chunk_size: int = 500,
    *,
    args: Sequence[torch.Tensor] = (),
    kwargs: Mapping[str, torch.Tensor] | None = None,
    global_latents: GlobalLatents = "error",
) -> torch.Tensor:
    r"""Per-example importance-sampled log p(x) (or log p(x | y)), in nats.

    The model and guide are called as ``model(x, *args, **kwargs)`` on rows of ``x`` and of
    every extra argument, e.g. ``args=(y,)`` for a conditional ``model(x, y)``: the estimate
    is then log p(x_n | y_n). Model latents the guide does not sample are enumerated
    exactly when marked ``infer={"enumerate": "parallel"}``, else drawn from their prior.

    Args:
        model: the model callable, or a module with ``model`` and ``guide`` methods (then
            ``guide`` may be omitted and ``x`` given as the second argument).
        guide: the proposal; every latent site must be inside ``pyro.plate("data")`` (dim
            -1), unless ``global_latents="posterior"``.
        x: observations ``(N, ...)``.
        num_samples: importance samples S per example (5000 as in Burda et al.).
        batch_size: examples per pass.
        chunk_size: particles per pass; peak memory scales with
            ``chunk_size * batch_size``, not with ``num_samples``.
        args: extra positional arguments of ``model``/``guide``, each ``(N, ...)`` (e.g.
            labels ``y`` int64 ``(N,)``).
        kwargs: extra keyword arguments, each ``(N, ...)``.
        global_latents: what latent sites outside the data plate (weights of a Bayesian
            model) mean. ``"error"`` raises: log p(x) does not factor over examples. With
            ``"posterior"`` the guide is taken as the posterior q(theta) of those sites and
            the result is the per-example posterior predictive density
            log E_{q(theta)}[p(x_n | theta)] (local latents importance-sampled for each
            draw of theta); particles are then drawn one at a time, so the model need not
            broadcast over a particle dimension.

    Returns:
        ``(N,)`` tensor of log p(x) estimates.

    Raises:
        ValueError: ``x`` fails the model's own data checks (``check_x`` of a pyrogen
            model: shape, dtype, NaN/inf, values outside the likelihood's support), as in
            training; or bad sizes, or global latents with ``global_latents="error"``.

    Example:
        >>> import pyro, pyro.distributions as dist, torch
        >>> def model(x, y):  # x | y ~ N(y, 1) with a N(0, 1) latent shift: N(y, 2)
        ...     with pyro.plate("data", len(x)):
        ...         z = pyro.sample("z", dist.Normal(0.0, 1.0))
        ...         pyro.sample("x", dist.Normal(z + y, 1.0), obs=x)
        >>> def guide(x, y):  # the exact posterior N((x - y) / 2, 1/2)
        ...     with pyro.plate("data", len(x)):
        ...         pyro.sample("z", dist.Normal((x - y) / 2, 0.5**0.5))
        >>> x, y = torch.tensor([0.0, 3.0]), torch.tensor([0.0, 1.0])
        >>> log_likelihood(model, guide, x, num_samples=10, args=(y,))
        tensor([-1.2655, -2.2655])
        >>> dist.Normal(y, 2**0.5).log_prob(x)
        tensor([-1.2655, -2.2655])

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016,
        Appendix / eq. (8). https://arxiv.org/abs/1509.00519
    """
    if guide is not None and not callable(guide) and x is None:
        x, guide = guide, None
    if guide is None:
        guide = model.guide
        model = model.model
    if x is None:
        raise ValueError("log_likelihood needs observations x (N, ...), got None")
    if num_samples < 1 or batch_size < 1 or chunk_size < 1:
        raise ValueError(
            f"expected positive num_samples, batch_size, chunk_size; got "
            f"{num_samples}, {batch_size}, {chunk_size}"
        )
    if global_latents not in ("error", "posterior"):
        raise ValueError(f"global_latents must be 'error' or 'posterior', got {global_latents!r}")
    kwargs = dict(kwargs or {})
    _batched(x, args, kwargs)
    # The estimator runs without Pyro's validation (for speed): the data are checked here,
    # as fit checks them, so that a log-likelihood is never reported for data outside the
    # model's support (e.g. grey levels under a Bernoulli decoder).
    check_model_input(model, x)
    out = []
    with pyro.validation_enabled(False):
        found = global_latent_sites(
            model, guide, x[:1], *(a[:1] for a in args), **{k: v[:1] for k, v in kwargs.items()}
        )
        if found and global_latents == "error":
            raise ValueError(
                f"log_likelihood needs every latent site inside pyro.plate('data'), but "
                f"{', '.join(repr(n) for n in found)} are outside it (a global latent has no "
                f"per-example weight); pass global_latents='posterior' for the posterior "
                f"predictive log E_q(theta) p(x | theta)"
            )
        for i in range(0, x.shape[0], batch_size):
            rows = slice(i, i + batch_size)
            batch_args = (x[rows], *(a[rows] for a in args))
            batch_kwargs = {k: v[rows] for k, v in kwargs.items()}
            total = torch.full((batch_args[0].shape[0],), -math.inf, device=x.device)
            done = 0
            while done < num_samples:
                k = min(chunk_size, num_samples - done)
                if found:  # global latents: one draw of theta per pass
                    lw = torch.stack(
                        [_weights(model, guide, batch_args, batch_kwargs, None) for _ in range(k)]
                    )
                else:
                    lw = _weights(model, guide, batch_args, batch_kwargs, k)
                total = torch.logaddexp(total, torch.logsumexp(lw, dim=0))
                done += k
            out.append(total - math.log(num_samples))
    return torch.cat(out)


def bits_per_dim(log_px: torch.Tensor, num_dims: int, bins: int | None = None) -> torch.Tensor:
    r"""Converts log-likelihoods (nats) to bits per dimension: -log p(x) / (D log 2).

    For a density on data rescaled from ``bins`` discrete levels to [0, 1]
    (dequantization), pass ``bins`` to add the change-of-variables term D log(bins), so the
    result is the discrete model's bits/dim (Theis et al. 2016; Dinh et al. 2017, sec. 4.1).
    """
    nll = -log_px
    if bins is not None:
        nll = nll + num_dims * math.log(bins)
    return nll / (num_dims * math.log(2.0))
