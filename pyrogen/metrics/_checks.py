"""Input checks shared by the sample-quality metrics."""

from __future__ import annotations

import torch


def as_matrix_pair(
    x: torch.Tensor, y: torch.Tensor, name: str, min_rows: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattens two samples ``(N, ...)`` and ``(M, ...)`` to float matrices on x's device."""
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
    x = x.reshape(x.shape[0], -1).float()
    y = y.reshape(y.shape[0], -1).float().to(x.device)
    return x, y
