r"""Contract checks for ``torch.distributions.Transform`` implementations.

Each check raises :class:`TransformContractError` (an ``AssertionError``) with a message saying
which property failed and by how much. :func:`check_transform` runs them all; the pieces are
public so users can check their own transforms:

* round trip ``inv(f(x)) = x`` with the cache on (the cached input comes back) and off
  (``_inverse`` really computes it);
* inversion of fresh points ``f(inv(y)) = y`` for ``y`` drawn by the caller (not produced by a
  forward call);
* ``log_abs_det_jacobian`` equals ``slogdet`` of the autograd Jacobian, for the forward and the
  inverse, with batch elements independent (off-diagonal blocks zero); use float64;
* ``log_abs_det_jacobian`` has shape ``batch_shape`` for several batch shapes;
* every parameter receives a finite, non-zero gradient through the forward and the inverse;
* a ``state_dict`` saved to bytes and loaded into a fresh instance reproduces the outputs.

References:
    Normalizing Flows for Probabilistic Modeling and Inference, G. Papamakarios,
    E. Nalisnick, D. J. Rezende, S. Mohamed, B. Lakshminarayanan, 2021, eq. (2) (change of
    variables). https://arxiv.org/abs/1912.02762
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.distributions import Transform


class TransformContractError(AssertionError):
    """A transform violates the ``torch.distributions.Transform`` contract."""


def default_tolerance(dtype: torch.dtype) -> float:
    """1e-10 in float64, 1e-5 in float32 (relative and absolute)."""
    return 1e-10 if dtype == torch.float64 else 1e-5


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str) -> None:
    if actual.shape != expected.shape:
        raise TransformContractError(
            f"{what}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}"
        )
    err = (actual - expected).detach().abs()
    bound = tol * (1 + expected.detach().abs())
    if not bool(torch.isfinite(actual).all()) or bool((err > bound).any()):
        raise TransformContractError(
            f"{what}: max abs error {float(err.max()):.3g} exceeds tolerance {tol:g} "
            f"(relative to 1 + |expected|)"
        )


def _event_dim(t: Transform) -> int:
    return t.codomain.event_dim


def check_round_trip(t: Transform, x: torch.Tensor, tol: float | None = None) -> None:
    """``inv(f(x)) = x`` with the cache on (identity of the cached input) and off."""
    tol = default_tolerance(x.dtype) if tol is None else tol
    cached = t.with_cache(1)
    y = cached(x)
    if cached.inv(y) is not x:
        raise TransformContractError("with cache_size=1, inv(f(x)) did not return the cached x")
    uncached = t.with_cache(0)
    y0 = uncached(x)
    _assert_close(y0, y, tol, "f(x) with the cache off vs on")
    _assert_close(uncached.inv(y0), x, tol, "inv(f(x)) with the cache off")


def check_inverse_fresh(t: Transform, y: torch.Tensor, tol: float | None = None) -> None:
    """``f(inv(y)) = y`` at points ``y`` of the codomain that no forward call produced."""
    tol = default_tolerance(y.dtype) if tol is None else tol
    uncached = t.with_cache(0)
    x = uncached.inv(y)
    _assert_close(uncached(x), y, tol, "f(inv(y)) at fresh points y")


def _jacobian_blocks(fn: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, event_dim: int):
    """Per-example Jacobians ``(B, n, n)`` of ``fn`` at ``v`` ``(B, *event)``; checks that
    examples do not influence each other."""
    batch, n = v.shape[0], v[0].numel()
    jac = torch.autograd.functional.jacobian(fn, v).reshape(batch, n, batch, n)
    idx = torch.arange(batch)
    blocks = jac[idx, :, idx, :]  # (B, n, n)
    off = jac.clone()
    off[idx, :, idx, :] = 0
    if bool((off.abs() > 1e-12).any()):
        raise TransformContractError("outputs of one batch element depend on another's inputs")
    return blocks


def check_log_det(t: Transform, x: torch.Tensor, tol: float | None = None) -> None:
    """``log|det J|`` of the forward at ``x`` and of the inverse at ``y = f(x)`` against
    ``slogdet`` of the autograd Jacobians; ``x`` is ``(B, *event)`` in float64."""
    if x.dtype != torch.float64:
        raise TypeError(f"check_log_det needs float64 inputs, got {x.dtype}")
    tol = 1e-8 if tol is None else tol
    t = t.with_cache(0)
    k = _event_dim(t)
    if x.dim() != k + 1:
        raise ValueError(f"x must have one batch dimension and event_dim={k}, got {x.shape}")
    y = t(x)
    expected = torch.linalg.slogdet(_jacobian_blocks(t, x, k))
    if bool((expected.sign == 0).any()):
        raise TransformContractError("the autograd Jacobian is singular")
    _assert_close(t.log_abs_det_jacobian(x, y), expected.logabsdet, tol, "forward log|det J|")
    inverse = torch.linalg.slogdet(_jacobian_blocks(t.inv, y.detach(), k)).logabsdet
    _assert_close(t.inv.log_abs_det_jacobian(y, t.inv(y)), inverse, tol, "inverse log|det J|")
    _assert_close(inverse, -expected.logabsdet, tol, "log|det J_inv| + log|det J|")


def check_log_det_shape(
    t: Transform, make_input: Callable[[tuple[int, ...]], torch.Tensor], batch_shapes
) -> None:
    """``log_abs_det_jacobian(x, f(x)).shape == batch_shape`` for each batch shape;
    ``make_input(batch_shape)`` returns a point of the domain with that batch shape."""
    for shape in batch_shapes:
        x = make_input(tuple(shape))
        ld = t.log_abs_det_jacobian(x, t(x))
        if tuple(ld.shape) != tuple(shape):
            raise TransformContractError(
                f"log_abs_det_jacobian has shape {tuple(ld.shape)} for batch shape "
                f"{tuple(shape)}; expected {tuple(shape)}"
            )


def check_gradients(
    module: nn.Module, transform: Callable[[], Transform], x: torch.Tensor, y: torch.Tensor
) -> None:
    """Every parameter of ``module`` gets a finite, non-zero gradient from the forward path
    (``f(x)`` and its log-det) and from the inverse path (``inv(y)`` at fresh ``y``).
    ``transform()`` builds the transform from the module (e.g. ``lambda: m.condition(c)``)."""
    params = dict(module.named_parameters())
    gen = torch.Generator().manual_seed(0)
    for path in ("forward", "inverse"):
        module.zero_grad(set_to_none=True)
        t = transform().with_cache(0)
        if path == "forward":
            out, ld = t(x), t.log_abs_det_jacobian(x, t(x))
        else:
            out = t.inv(y)
            ld = t.log_abs_det_jacobian(out, y)
        w = torch.randn(out.shape, generator=gen, dtype=out.dtype)
        ((out * w).sum() + ld.sum()).backward()
        for name, p in params.items():
            if p.grad is None or not bool(torch.isfinite(p.grad).all()):
                raise TransformContractError(f"{path}: parameter {name!r} got no finite gradient")
            if not bool((p.grad != 0).any()):
                raise TransformContractError(f"{path}: parameter {name!r} got a zero gradient")


def check_save_load(
    module: nn.Module,
    factory: Callable[[], nn.Module],
    apply: Callable[[nn.Module], torch.Tensor],
) -> None:
    """``factory()`` loaded with ``module``'s saved ``state_dict`` gives the same
    ``apply(module)`` (e.g. ``lambda m: m(x)``)."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    fresh = factory()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    expected = apply(module)
    dtype = expected.dtype
    _assert_close(apply(fresh.to(dtype)), expected, 0.0, "output after save/load")


def _check_all(
    t: Transform,
    x: torch.Tensor,
    fresh_y: torch.Tensor | None,
    batch_shapes: Sequence[Sequence[int]],
    tol: float | None,
) -> torch.Tensor:
    event = tuple(x.shape[1:])
    if fresh_y is None:
        with torch.no_grad():
            fresh_y = t.with_cache(0)(x) + torch.randn_like(x)
    check_round_trip(t, x, tol)
    check_inverse_fresh(t, fresh_y, tol)
    if x.dtype == torch.float64:
        check_log_det(t, x)
    check_log_det_shape(t, lambda s: torch.randn(s + event, dtype=x.dtype), batch_shapes)
    return fresh_y


def check_transform(
    t: Transform,
    x: torch.Tensor,
    *,
    fresh_y: torch.Tensor | None = None,
    factory: Callable[[], nn.Module] | None = None,
    batch_shapes: Sequence[Sequence[int]] = ((), (1,), (4,), (2, 3)),
    tol: float | None = None,
) -> None:
    """Runs every check on transform ``t`` (and on its parameters when it is a module).

    Args:
        t: the transform, already in the dtype of ``x`` (float64 adds the log-det check).
        x: ``(B, *event)`` points of the domain.
        fresh_y: ``(B, *event)`` points of the codomain for :func:`check_inverse_fresh`;
            default: ``f(x)`` plus unit Gaussian noise (valid for unconstrained codomains).
        factory: builds a fresh instance for :func:`check_save_load` (skipped if ``None``).
        batch_shapes: batch shapes for :func:`check_log_det_shape`.
        tol: tolerance for the round trips (default :func:`default_tolerance`).
    """
    fresh_y = _check_all(t, x, fresh_y, batch_shapes, tol)
    if isinstance(t, nn.Module) and any(True for _ in t.parameters()):
        check_gradients(t, lambda: t, x, fresh_y)
    if factory is not None:
        if not isinstance(t, nn.Module):
            raise TypeError(f"save/load needs an nn.Module, got {type(t).__name__}")
        check_save_load(t, factory, lambda m: m.with_cache(0)(x))  # type: ignore[operator]


def check_conditional_transform(
    module: nn.Module,
    context: torch.Tensor,
    x: torch.Tensor,
    *,
    fresh_y: torch.Tensor | None = None,
    factory: Callable[[], nn.Module] | None = None,
    tol: float | None = None,
) -> None:
    """Runs every check on ``module.condition(context)`` and on ``module``'s parameters.

    Args:
        module: a conditional transform module (has ``condition(context)``).
        context: ``(B, context_dim)``.
        x: ``(B, *event)`` points of the domain (one per context).
        fresh_y: ``(B, *event)`` fresh points of the codomain (default ``f(x)`` + noise).
        factory: builds a fresh conditional module for :func:`check_save_load`.
        tol: tolerance for the round trips.
    """
    condition = getattr(module, "condition", None)
    if condition is None:
        raise TypeError(f"{type(module).__name__} has no condition(context) method")
    batch = x.shape[0]
    t = condition(context)
    fresh_y = _check_all(t, x, fresh_y, ((batch,), (2, batch)), tol)
    check_gradients(module, lambda: condition(context), x, fresh_y)
    if factory is not None:
        check_save_load(module, factory, lambda m: m.condition(context).with_cache(0)(x))
