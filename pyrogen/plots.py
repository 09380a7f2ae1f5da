"""Figures people would rather look at than read: sample grids, signals, reconstructions, curves.

Every figure is a bare ``matplotlib.figure.Figure`` written straight to a PNG file: pyplot is
never imported, so importing this module leaves the user's backend alone (an inline Jupyter
backend stays inline), no window opens and nothing needs a display. Functions return the path
written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """Tiles ``(N, C, H, W)`` images (values in [0, 1]) into one ``(H', W')`` or
    ``(H', W', 3)`` array, ``nrow`` images per row (default: a square grid)."""
    if images.dim() != 4:
        raise ValueError(f"image_grid expects (N, C, H, W), got shape {tuple(images.shape)}")
    imgs = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = imgs.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    grid = torch.ones(c, ncol * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top : top + h, left : left + w] = imgs[i]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def save_image_grid(
    images: torch.Tensor, path: str | os.PathLike[str], nrow: int | None = None, title: str = ""
) -> Path:
    """Saves ``(N, C, H, W)`` images in [0, 1] as a PNG grid."""
    arr = image_grid(images, nrow)
    # About 24 grid pixels per inch, within readable bounds, so small images stay visible.
    width = min(12.0, max(4.0, arr.shape[1] / 24))
    height = min(12.0, max(1.5, width * arr.shape[0] / arr.shape[1] + (0.4 if title else 0)))
    fig = Figure(figsize=(width, height))
    ax = fig.subplots()
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def save_signals(
    signals: torch.Tensor, path: str | os.PathLike[str], title: str = "", max_panels: int = 16
) -> Path:
    """Saves ``(N, T)`` 1-D signals as line plots, one panel each (the first ``max_panels``)."""
    if signals.dim() != 2 or signals.shape[0] < 1:
        raise ValueError(f"save_signals expects (N, T) with N >= 1, got {tuple(signals.shape)}")
    total = signals.shape[0]
    x = signals[:max_panels].detach().float().cpu().numpy()
    n = x.shape[0]
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(3 * ncol, 1.5 * nrow + 0.4))
    axes = fig.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            ax.plot(x[i], lw=0.8)
            ax.grid(alpha=0.3)
        else:
            ax.axis("off")
    shown = f" (first {n} of {total})" if n < total else ""
    fig.suptitle(f"{title}{shown}", fontsize=9)
    return _save(fig, path)


def save_samples(samples: torch.Tensor, path: str | os.PathLike[str], title: str = "") -> Path:
    """Saves draws of a model: ``(N, C, H, W)`` images as a grid, ``(N, T)`` signals as lines."""
    if samples.dim() == 4:
        return save_image_grid(samples, path, title=title)
    if samples.dim() == 2:
        return save_signals(samples, path, title=title)
    raise ValueError(
        f"samples must be images (N, C, H, W) or signals (N, T), got {tuple(samples.shape)}"
    )


def save_reconstructions(
    x: torch.Tensor, x_rec: torch.Tensor, path: str | os.PathLike[str], n: int = 16
) -> Path:
    """Saves rows of originals, each followed by a row of their reconstructions."""
    n = min(n, x.shape[0])
    per_row = min(8, n)
    rows = []
    for i in range(0, n, per_row):
        rows += [x[i : i + per_row], x_rec[i : i + per_row]]
    both = torch.cat(rows)
    title = "data / reconstruction, alternating rows"
    return save_image_grid(both, path, nrow=per_row, title=title)


def save_curves(
    history: Sequence[dict[str, float]],
    path: str | os.PathLike[str],
    keys: Sequence[str] | None = None,
    ylabel: str = "loss (nats per example)",
) -> Path:
    """Plots per-epoch metrics (e.g. ``train_loss``, ``test_loss``) against the epoch."""
    if not history:
        raise ValueError("save_curves needs at least one epoch of history, got none")
    keys = list(keys or [k for k in history[0] if k.endswith("_loss")])
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for k in keys:
        ax.plot(epochs, [row.get(k, float("nan")) for row in history], label=k, marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def save_density_2d(
    log_density: torch.Tensor,
    extent: tuple[float, float, float, float],
    path: str | os.PathLike[str],
    samples: torch.Tensor | None = None,
    title: str = "",
) -> Path:
    """Shows a density evaluated on a grid (``(G, G)`` log-density, rows along y) with
    optional ``(N, 2)`` samples beside it."""
    ncols = 2 if samples is not None else 1
    fig = Figure(figsize=(4 * ncols, 4))
    axes = fig.subplots(1, ncols, squeeze=False)
    axes[0, 0].imshow(log_density.exp().cpu().numpy(), extent=extent, origin="lower")
    axes[0, 0].set_title(title or "density")
    if samples is not None:
        s = samples.detach().cpu().numpy()
        axes[0, 1].scatter(s[:, 0], s[:, 1], s=2, alpha=0.5)
        axes[0, 1].set_xlim(extent[0], extent[1])
        axes[0, 1].set_ylim(extent[2], extent[3])
        axes[0, 1].set_title("samples")
    return _save(fig, path)


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # The figure belongs to no pyplot window list, so nothing needs closing: it is freed with
    # its last reference, and savefig renders PNG with Agg whatever the current backend is.
    fig.savefig(path, dpi=100)
    return path
