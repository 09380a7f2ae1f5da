"""Input checks that fail fast with a message saying what was expected and what came."""

from __future__ import annotations

from collections.abc import Sequence

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
