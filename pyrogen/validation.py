"""Input checks that fail fast with a message saying what was expected and what came."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import pyro
import torch


def check_shape(x: torch.Tensor, event_shape: Sequence[int], name: str = "x") -> None:
    """Raises ``ValueError`` unless ``x`` is a tensor shaped ``(batch..., *event_shape)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    event_shape = tuple(event_shape)
    k = len(event_shape)
    if x.dim() <= k - 1 or tuple(x.shape[x.dim() - k :]) != event_shape or x.dim() == k:
        raise ValueError(
            f"{name} must have shape (batch, {', '.join(map(str, event_shape))}), "
            f"got {tuple(x.shape)}"
        )


def check_finite(x: torch.Tensor, name: str = "x") -> None:
    """Raises ``ValueError`` if ``x`` holds NaN or infinite values (says how many)."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        raise ValueError(
            f"{name} must be finite, but it holds {int(bad.sum())} NaN/inf value(s) "
            f"out of {x.numel()}"
        )


def check_binary(x: torch.Tensor, name: str = "x") -> None:
    """Raises ``ValueError`` unless every value of ``x`` is 0 or 1."""
    bad = (x != 0) & (x != 1)
    if bool(bad.any()):
        example = x[bad].flatten()[:3].tolist()
        raise ValueError(
            f"{name} must be binary (0 or 1) for a Bernoulli likelihood, but {int(bad.sum())} "
            f"value(s) are not, e.g. {example}; binarize the data (pyrogen.data.load(..., "
            f"binarize='dynamic') or x.bernoulli()) or choose another likelihood"
        )


def check_unit_interval(x: torch.Tensor, name: str = "x") -> None:
    """Raises ``ValueError`` unless every value of ``x`` lies in [0, 1]."""
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:g}, {hi:g}]")


def _as_int(value: object) -> int | None:
    """``value`` as an int if it is an integer (numpy's too, not a bool), else ``None``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def check_positive_int(value: object, name: str) -> int:
    """Returns ``value`` as an int if it is an integer >= 1 (a size, a count); else
    ``ValueError``."""
    n = _as_int(value)
    if n is None or n < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return n


def check_positive_number(value: object, name: str, allow_zero: bool = False) -> float:
    """Returns ``value`` as a float if it is a finite real > 0 (>= 0 with ``allow_zero``),
    e.g. a learning rate or a penalty weight; else ``ValueError``."""
    x = math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        x = float(value)
    if not (math.isfinite(x) and (x >= 0 if allow_zero else x > 0)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return x


def check_sizes(sizes: object, name: str, allow_empty: bool = False) -> tuple[int, ...]:
    """Returns ``sizes`` as a tuple of ints if it is a sequence of integers >= 1 (layer
    widths, an event shape); an empty one raises ``ValueError`` unless ``allow_empty``."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise ValueError(f"{name} must be a sequence of positive ints, got {sizes!r}")
    if not sizes and not allow_empty:
        raise ValueError(f"{name} must hold at least one size, got {tuple(sizes)}")
    ints = [_as_int(s) for s in sizes]
    if any(n is None or n < 1 for n in ints):
        raise ValueError(f"{name} must be a sequence of positive ints, got {tuple(sizes)}")
    return tuple(n for n in ints if n is not None)


def check_x_shape(x_shape: object, name: str = "x_shape") -> tuple[int, ...]:
    """The shape of one observation, from an int ``D`` or a sequence: every side >= 1."""
    if _as_int(x_shape) is not None:
        x_shape = (x_shape,)
    return check_sizes(x_shape, name)


def check_image_shape(x_shape: object, what: str) -> tuple[int, int, int]:
    """``(C, H, W)`` with every side >= 1, for ``what`` (e.g. ``"PixelCNN"``)."""
    shape = check_x_shape(x_shape)
    if len(shape) != 3:
        raise ValueError(
            f"{what} models images: x_shape must be (C, H, W), got {shape}; use a model of "
            f"vectors (e.g. an MLP VAE, MADE) for data of this shape"
        )
    return shape[0], shape[1], shape[2]


def check_num_samples(num_samples: object, name: str = "num_samples") -> int:
    """Returns the number of draws asked of ``sample`` if it is an int >= 1."""
    n = _as_int(num_samples)
    if n is None or n < 1:
        raise ValueError(
            f"{name} must be a positive int (the number of draws), got {num_samples!r}"
        )
    return n


def parameter_dtype(module: torch.nn.Module) -> torch.dtype | None:
    """The dtype of ``module``'s first floating-point parameter (``None``: it has none)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_dtype(x: torch.Tensor, dtype: torch.dtype | None, name: str = "x") -> None:
    """Raises ``ValueError`` unless ``x`` is floating point of ``dtype``, the dtype of the
    model's parameters (``None``: any floating dtype), which it meets in its first layer."""
    if x.is_floating_point() and (dtype is None or x.dtype == dtype):
        return
    want = dtype or torch.get_default_dtype()
    if not x.is_floating_point():
        expected = "" if dtype is None else f" of dtype {dtype} (the model's parameters' dtype)"
        raise ValueError(
            f"{name} must be a floating-point tensor{expected}, got {x.dtype}; convert it "
            f"with {name}.to({want})"
        )
    raise ValueError(
        f"{name} has dtype {x.dtype}, but the model's parameters are {want}: convert the data "
        f"with {name}.to({want}), or the model with model.to({x.dtype})"
    )


def check_model_input(model: object, x: torch.Tensor) -> None:
    """Runs the data checks of the model that ``model`` is, or is a method of (its
    ``check_x(x)``: shape, dtype, finiteness, the likelihood's support), with Pyro
    validation on, so that data the model's training would refuse are refused here too.
    A model without ``check_x`` is not checked."""
    owner = getattr(model, "__self__", model)
    check_x = getattr(owner, "check_x", None)
    if callable(check_x):
        with pyro.validation_enabled(True):
            check_x(x)


def available_devices() -> list[str]:
    """The device names that work on this machine: ``auto``, ``cpu``, then ``cuda`` and
    ``cuda:0``, ``cuda:1``, ... where CUDA is available, and ``mps`` where it is."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` if it names one that this machine has
    (``"auto"`` excepted: see :func:`pyrogen.infer.resolve_device`); else ``ValueError``
    naming the valid choices, before anything is built on it."""
    valid = ", ".join(available_devices())
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {str(device)!r}; expected one of: {valid}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda" and torch.cuda.is_available():
        if dev.index is None or dev.index < torch.cuda.device_count():
            return dev
        raise ValueError(
            f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA "
            f"device(s); expected one of: {valid}"
        )
    if dev.type == "mps" and torch.backends.mps.is_available():
        return dev
    if dev.type in ("cuda", "mps"):
        why = f"torch {torch.__version__} finds no {dev.type.upper()} device on this machine"
    else:
        why = "pyrogen runs on CPU, CUDA and MPS devices"
    raise ValueError(f"device {str(device)!r} is not available: {why}; expected one of: {valid}")


def check_observations(
    x: torch.Tensor,
    shape: Sequence[int],
    dtype: torch.dtype | None,
    support: Callable[[torch.Tensor], None] | None = None,
) -> None:
    """A model's check of its data: the shape ``(B, *shape)`` always; the dtype (``None``: any
    floating dtype), finiteness and ``support`` (such as :func:`check_binary`) only when Pyro
    validation is enabled, since they read every value."""
    check_shape(x, shape)
    if pyro.poutine.util.is_validation_enabled():
        check_dtype(x, dtype)
        check_finite(x)
        if support is not None:
            support(x)
