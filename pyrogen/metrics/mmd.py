r"""Maximum mean discrepancy with a Gaussian kernel, unbiased (a test statistic) or biased.

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
              - 2/(mn) sum_{i,j} k(x_i, y_j),     k(a, b) = exp(-||a - b||^2 / (2 sigma^2));
    MMD^2_b = 1/m^2 sum_{i,j} k(x_i, x_j) + 1/n^2 sum_{i,j} k(y_i, y_j) - 2/(mn) sum k(x_i, y_j)

(the biased V-statistic, never negative, is the divergence InfoVAE and MMD-VAE train with).
Both are differentiable in the samples.

Bandwidth rule: unless given, sigma is the median Euclidean distance between distinct points
of the pooled sample (the "median heuristic", Gretton et al. 2012, Sec. 8), computed on at
most 1000 pooled points.

References:
    A Kernel Two-Sample Test, A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schoelkopf,
    A. Smola, 2012, eqs. (3) and (5) (Lemma 6). https://jmlr.org/papers/v13/gretton12a.html
"""

from __future__ import annotations

import torch

from pyrogen.metrics._checks import as_matrix_pair


def median_bandwidth(x: torch.Tensor, y: torch.Tensor, max_points: int = 1000) -> float:
    """Median pairwise distance of the pooled sample ``(N, D)`` and ``(M, D)``."""
    pooled = torch.cat([x, y])
    if pooled.shape[0] > max_points:
        # A fixed, evenly spaced subset: the rule stays deterministic.
        idx = torch.linspace(0, pooled.shape[0] - 1, max_points).long().to(pooled.device)
        pooled = pooled[idx]
    d = torch.cdist(pooled, pooled)
    iu = torch.triu_indices(d.shape[0], d.shape[0], offset=1, device=d.device)
    return float(d[iu[0], iu[1]].median())


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, sigma: float, chunk: int = 2048) -> torch.Tensor:
    total = a.new_zeros((), dtype=torch.float64)
    for i in range(0, a.shape[0], chunk):
        d2 = torch.cdist(a[i : i + chunk], b).pow(2)
        total = total + torch.exp(-d2 / (2 * sigma**2)).sum().double()
    return total


def mmd(
    x: torch.Tensor, y: torch.Tensor, bandwidth: float | None = None, unbiased: bool = True
) -> torch.Tensor:
    r"""Squared MMD between samples ``x (N, ...)`` and ``y (M, ...)``.

    Trailing dimensions are flattened. The unbiased estimate (N, M >= 2) can be slightly
    negative when the two distributions are equal; the biased one is >= 0, with a bias of
    O(1/N + 1/M).

    Args:
        x: first sample ``(N, *event)``.
        y: second sample ``(M, *event)``, same event shape.
        bandwidth: kernel width sigma; ``None`` uses :func:`median_bandwidth`.
        unbiased: the U-statistic MMD^2_u (default) or the V-statistic MMD^2_b.

    Returns:
        A 0-dim float64 tensor (differentiable in ``x`` and ``y``).

    Example:
        >>> import torch
        >>> from pyrogen.metrics import mmd
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
        >>> abs(float(mmd(x, y))) < 0.01
        True
    """
    x, y = as_matrix_pair(x, y, "mmd", min_rows=2 if unbiased else 1)
    sigma = median_bandwidth(x.detach(), y.detach()) if bandwidth is None else float(bandwidth)
    if not sigma > 0:
        raise ValueError(f"the kernel bandwidth must be > 0, got {sigma}")
    m, n = x.shape[0], y.shape[0]
    kxy = _kernel_sum(x, y, sigma) / (m * n)
    if not unbiased:
        return _kernel_sum(x, x, sigma) / m**2 + _kernel_sum(y, y, sigma) / n**2 - 2 * kxy
    # The diagonal of k(x, x) is exactly 1 per point: subtract it for the i != j sums.
    kxx = (_kernel_sum(x, x, sigma) - m) / (m * (m - 1))
    kyy = (_kernel_sum(y, y, sigma) - n) / (n * (n - 1))
    return kxx + kyy - 2 * kxy
