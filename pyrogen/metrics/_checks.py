"""Input checks shared by the sample-quality metrics."""

from __future__ import annotations

import torch


def as_matrix_pair(
    x: torch.Tensor, y: torch.Tensor, name: str, min_rows: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattens two samples ``(N, ...)`` and ``(M, ...)`` to floating matrices on x's device
    (float32 unless x is already floating: float64 samples keep their precision)."""
    for label, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: {label} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 1 or t.shape[0] < min_rows:
            raise ValueError(
                f"{name}: {label} must have shape (N, ...) with N >= {min_rows}, "
                f"got {tuple(t.shape)}"
            )
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: {label} holds NaN or infinite values")
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"{name}: x and y must have the same event shape, got {tuple(x.shape[1:])} and "
            f"{tuple(y.shape[1:])}"
        )
    dtype = x.dtype if x.is_floating_point() else torch.float32
    x = x.reshape(x.shape[0], -1).to(dtype)
    y = y.reshape(y.shape[0], -1).to(dtype=dtype, device=x.device)
    return x, y
