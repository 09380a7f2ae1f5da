r"""Monte Carlo statistics of a gradient estimator at fixed parameters.

For R independent draws g_1..g_R of the estimator's gradient, per parameter entry

    mean = (1/R) sum_r g_r,   var = (1/(R-1)) sum_r (g_r - mean)^2,   SNR = |mean| / sqrt(var),

accumulated online (Welford) so that R can be large for big networks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from pyro import poutine
from pyro.infer import JitTrace_ELBO
from pyro.util import get_rng_state, set_rng_state

from pyrogen.objectives.param_sites import unconstrained_leaf


class Objective(Protocol):
    """Any Pyro objective: :class:`pyro.infer.ELBO` and every estimator here.

    Objectives with ``differentiable_loss`` are differentiated with :func:`torch.autograd.grad`;
    the others (``TraceGraph_ELBO``, ``RenyiELBO``, ``JitTraceGraph_ELBO``) only offer
    ``loss_and_grads``, which backpropagates into ``.grad``.
    """

    def loss_and_grads(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> Any: ...


@dataclass
class GradientStats:
    """Statistics of one parameter or named group (entries flattened and concatenated).

    Attributes:
        mean: ``(P,)`` Monte Carlo mean of the gradient.
        var: ``(P,)`` unbiased variance across draws.
        num_draws: R.
    """

    mean: torch.Tensor
    var: torch.Tensor
    num_draws: int

    @property
    def snr(self) -> torch.Tensor:
        """``(P,)`` |mean| / std per entry (0 where both are 0, inf where only std is)."""
        std = self.var.sqrt()
        snr = self.mean.abs() / std
        return torch.where((std == 0) & (self.mean == 0), torch.zeros_like(snr), snr)

    @property
    def mean_snr(self) -> float:
        """Average of the per-entry SNR (Rainforth et al.'s summary for a network)."""
        return float(self.snr.mean())

    @property
    def total_var(self) -> float:
        """Sum of the per-entry variances (trace of the gradient's covariance)."""
        return float(self.var.sum())


def _module_params(model: Callable, guide: Callable) -> dict[str, torch.Tensor]:
    """Parameters of the modules that are (or own, as bound methods) ``model`` and ``guide``."""
    found: dict[str, torch.Tensor] = {}
    for fn in (model, guide):
        owner = getattr(fn, "__self__", fn)
        if isinstance(owner, torch.nn.Module):
            for name, p in owner.named_parameters():
                if p.requires_grad:
                    found.setdefault(name, p)
    return found


def _leaf_params(value: torch.Tensor) -> list[torch.Tensor]:
    """Leaf tensors requiring grad that ``value`` depends on (walks the autograd graph)."""
    leaves: dict[int, torch.Tensor] = {}
    # Visited nodes stay referenced, not only their ids: torch may wrap a graph node in a
    # fresh Python object on each access and free it after (2.5 does), so an id seen once
    # could come back as another node's, which would then be skipped.
    stack, seen = [value.grad_fn], {}
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen[id(fn)] = fn
        var = getattr(fn, "variable", None)
        if var is not None:
            leaves[id(var)] = var
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return list(leaves.values())


def _find_params(model: Callable, guide: Callable, args, kwargs) -> dict[str, torch.Tensor]:
    """Every leaf parameter the model/guide pair uses, by name.

    Runs the guide once and the model against it (blocked, random state restored), which also
    creates the parameters an autoguide builds on its first call. Then, without duplicates:
    the leaf behind each ``param`` site (by Pyro name: ``pyro.param``, ``PyroParam``,
    ``pyro.module``), the other parameters of the owning modules (by attribute name), and
    any other leaf the sampled log-densities depend on (``param_<i>``, e.g. a tensor
    captured by a closure).
    """
    state = get_rng_state()
    try:
        with poutine.block():
            guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
                *args, **kwargs
            )
            log_density = model_trace.log_prob_sum() + guide_trace.log_prob_sum()
    finally:
        set_rng_state(state)
    sites = [
        (str(name), unconstrained_leaf(site["value"]))
        for trace in (guide_trace, model_trace)
        for name, site in trace.nodes.items()
        if site["type"] == "param"
    ]
    modules = list(_module_params(model, guide).items())
    graph = [(None, p) for p in _leaf_params(torch.as_tensor(log_density))]
    found: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, leaf in sites + modules + graph:
        if leaf is None or id(leaf) in seen:
            continue
        seen.add(id(leaf))
        found[name if name is not None and name not in found else f"param_{len(found)}"] = leaf
    return found


def _grads_from_backward(
    loss: Objective,
    model: Callable,
    guide: Callable,
    args,
    kwargs,
    measured: list[torch.Tensor],
    protected: list[torch.Tensor],
) -> list[torch.Tensor | None]:
    """One gradient draw from ``loss_and_grads``: the ``.grad`` it writes into ``measured``.

    The ``.grad`` of every ``protected`` tensor is set aside and cleared first and put back
    afterwards (the same tensor objects), so the caller's accumulated gradients survive.
    """
    saved = [(p, p.grad) for p in protected]
    try:
        for p in protected:
            p.grad = None
        loss.loss_and_grads(model, guide, *args, **kwargs)
        return [p.grad for p in measured]
    finally:
        for p, grad in saved:
            p.grad = grad


def gradient_variance(
    model: Callable,
    guide: Callable,
    loss: Objective,
    *args: Any,
    num_draws: int = 100,
    params: Mapping[str, torch.Tensor | Iterable[torch.Tensor]] | None = None,
    **kwargs: Any,
) -> dict[str, GradientStats]:
    r"""Repeats ``loss``'s gradient estimate R times at fixed parameters; mean, var and SNR.

    Each draw is ``torch.autograd.grad`` of ``loss.differentiable_loss``; for an objective
    without one (``TraceGraph_ELBO``, ``RenyiELBO``, ``JitTraceGraph_ELBO``) it is the ``.grad``
    that ``loss.loss_and_grads`` writes, read with every parameter's ``.grad`` set aside
    and put back afterwards, so gradients the caller accumulated are left as they were.
    ``JitTrace_ELBO`` is read through ``loss_and_grads`` too: in Pyro 1.9 its
    ``differentiable_loss`` adds the surrogate's gradient to an undetached loss, which
    doubles every reparameterized gradient (``loss_and_grads``, what ``SVI`` uses, is right).

    Args:
        model, guide: the Pyro model and guide, called with ``*args, **kwargs``.
        loss: any Pyro objective (:class:`~pyro.infer.ELBO` and the estimators here).
        num_draws: R >= 2 independent draws.
        params: what to measure: ``{name: tensor}`` per parameter, or ``{group: [tensors]}``
            for named groups (e.g. ``{"encoder": enc.parameters(), "decoder": ...}``).
            Default: every parameter the pair uses, found by running the guide and the model
            once: each ``param`` site's unconstrained leaf, by Pyro name (``pyro.param`` in
            the param store, ``PyroParam``\ s, those an autoguide creates on its first call),
            the other parameters of the modules that are or own ``model``/``guide`` (by
            attribute name), and any other leaf the log-densities depend on (``param_<i>``).

    Returns:
        ``{name: GradientStats}``; entries that receive no gradient count as 0.

    Raises:
        ValueError: ``num_draws < 2``; a ``params`` entry that does not require grad (or is
            not a leaf, for an objective read through ``.grad``); no parameter found.

    Example:
        >>> import torch, pyro, pyro.distributions as dist
        >>> from pyro.infer import Trace_ELBO
        >>> loc = torch.tensor(0.5, requires_grad=True)
        >>> def model():
        ...     pyro.sample("z", dist.Normal(0.0, 1.0))
        >>> def guide():
        ...     pyro.sample("z", dist.Normal(loc, 1.0))
        >>> from pyrogen.objectives import STL_ELBO
        >>> pyro.set_rng_seed(0)
        >>> # d/dloc KL(N(loc, 1) || N(0, 1)) = loc; reparameterized draws are loc + eps
        >>> rep = gradient_variance(model, guide, Trace_ELBO(), num_draws=400,
        ...                         params={"loc": loc})
        >>> round(float(rep["loc"].mean), 1), round(rep["loc"].total_var, 1)
        (0.5, 1.0)
        >>> stl = gradient_variance(model, guide, STL_ELBO(), num_draws=10, params={"loc": loc})
        >>> round(float(stl["loc"].mean), 6), stl["loc"].total_var  # path term only: exact
        (0.5, 0.0)

    References:
        Tighter Variational Bounds are Not Necessarily Better, T. Rainforth, A. R. Kosiorek,
        T. A. Le, C. J. Maddison, M. Igl, F. Wood, Y. W. Teh, 2018, eq. (5) (SNR).
        https://arxiv.org/abs/1802.04537
    """
    if num_draws < 2:
        raise ValueError(f"num_draws must be >= 2 to estimate a variance, got {num_draws}")
    differentiable_loss: Callable[..., torch.Tensor] | None = getattr(
        loss, "differentiable_loss", None
    )
    if isinstance(loss, JitTrace_ELBO):  # its differentiable_loss doubles the gradient
        differentiable_loss = None
    differentiable = differentiable_loss is not None
    found = _find_params(model, guide, args, kwargs) if params is None or not differentiable else {}
    if params is None:
        if not found:
            raise ValueError(
                "found no parameter to measure: the model and guide use no module parameter, "
                "no pyro.param and no tensor that requires grad; pass params={name: tensor}"
            )
        groups = {name: [p] for name, p in found.items()}
    else:
        groups = {
            name: [ps] if isinstance(ps, torch.Tensor) else list(ps) for name, ps in params.items()
        }
    for name, ps in groups.items():
        if not ps or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in ps):
            raise ValueError(f"params[{name!r}] must hold tensors that require grad, got {ps!r}")
        if not differentiable and not all(p.is_leaf for p in ps):
            raise ValueError(
                f"{type(loss).__name__} has no differentiable_loss, so its gradient is read from "
                f".grad, which only leaf tensors receive; params[{name!r}] holds a non-leaf"
            )
    flat = [p for ps in groups.values() for p in ps]
    protected = list({id(p): p for p in flat + list(found.values())}.values())
    mean: dict[str, torch.Tensor] = {}
    m2: dict[str, torch.Tensor] = {}
    for r in range(1, num_draws + 1):
        grads: Sequence[torch.Tensor | None]
        if differentiable_loss is not None:
            value = differentiable_loss(model, guide, *args, **kwargs)
            grads = torch.autograd.grad(value, flat, allow_unused=True)
        else:
            grads = _grads_from_backward(loss, model, guide, args, kwargs, flat, protected)
        i = 0
        for name, ps in groups.items():
            g = torch.cat(
                [
                    (torch.zeros_like(p) if gi is None else gi).detach().reshape(-1)
                    for p, gi in zip(ps, grads[i : i + len(ps)])
                ]
            ).double()
            i += len(ps)
            if name not in mean:
                mean[name], m2[name] = g.clone(), torch.zeros_like(g)
                continue
            delta = g - mean[name]
            mean[name] += delta / r
            m2[name] += delta * (g - mean[name])
    return {
        name: GradientStats(mean[name], m2[name] / (num_draws - 1), num_draws) for name in groups
    }
