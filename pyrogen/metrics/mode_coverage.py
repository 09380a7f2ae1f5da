r"""Mode coverage and sample quality on Gaussian-mixture toys (8-ring, 25-grid).

Each sample is assigned to its nearest mode; it is *high quality* if it lies within
``threshold`` standard deviations of that mode (Srivastava et al. 2017, Sec. 5.1: three
standard deviations). A mode is *covered* if it holds at least ``min_count`` high-quality
samples; by default a tenth of its fair share, ``0.1 * N / K``, so that a generator spraying
a few stray points near every mode does not count as covering them.

The toys themselves are :func:`pyrogen.data.eight_gaussians` (radius 2, std 0.02) and
:func:`pyrogen.data.twenty_five_gaussians` (spacing 2, std 0.05).

References:
    Unrolled Generative Adversarial Networks, L. Metz et al., 2017, Sec. 3.1 (the ring of 8
    Gaussians). https://arxiv.org/abs/1611.02163
    VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational Learning,
    A. Srivastava et al., 2017, Sec. 5.1, Table 1 (modes, high-quality samples; 2-D ring and
    grid). https://arxiv.org/abs/1705.07761
"""

from __future__ import annotations

import math

import torch


def mode_coverage(
    samples: torch.Tensor,
    centers: torch.Tensor,
    std: float,
    threshold: float = 3.0,
    min_count: int | None = None,
) -> dict[str, float | torch.Tensor]:
    r"""Modes covered and the fraction of high-quality samples.

    Args:
        samples: generated points ``(N, D)``.
        centers: mode means ``(K, D)``.
        std: standard deviation of each mode.
        threshold: a sample is high quality within ``threshold * std`` of its nearest mode.
        min_count: high-quality samples a mode needs to count as covered; ``None`` gives
            ``max(1, 0.1 * N / K)``.

    Returns:
        ``{"modes": covered modes (int-valued float), "quality": fraction of high-quality
        samples, "counts": (K,) high-quality samples per mode, "kl": KL(counts || uniform)
        of the mode histogram of the high-quality samples (0 when balanced)}``.
    """
    if samples.dim() != 2 or centers.dim() != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"mode_coverage expects samples (N, D) and centers (K, D), got "
            f"{tuple(samples.shape)} and {tuple(centers.shape)}"
        )
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    centers = centers.to(samples)
    n, k = samples.shape[0], centers.shape[0]
    dist, nearest = torch.cdist(samples, centers).min(dim=1)
    good = dist <= threshold * std
    counts = torch.bincount(nearest[good], minlength=k)
    need = max(1, math.ceil(0.1 * n / k)) if min_count is None else int(min_count)
    p = counts.double() / counts.sum().clamp(min=1)
    kl = float((p[p > 0] * torch.log(p[p > 0] * k)).sum()) if counts.sum() else math.inf
    return {
        "modes": float((counts >= need).sum()),
        "quality": float(good.double().mean()),
        "counts": counts,
        "kl": kl,
    }
