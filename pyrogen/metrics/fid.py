r"""Frechet distance between Gaussians fitted to features of two samples (FID).

    d^2 = ||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x^{1/2} S_y S_x^{1/2})^{1/2}),

the 2-Wasserstein distance between N(mu_x, S_x) and N(mu_y, S_y) (Dowson & Landau 1982).
The feature network is pluggable: Heusel et al. use Inception-v3 pool features; offline,
pyrogen's default is a small classifier trained on the dataset
(:func:`~pyrogen.metrics.feature_classifier.load_or_train_classifier`), so the numbers are
comparable between runs of pyrogen but not with published Inception FIDs.

References:
    GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium,
    M. Heusel et al., 2017, eq. (6). https://arxiv.org/abs/1706.08500
    The Frechet distance between multivariate normal distributions, D. C. Dowson,
    B. V. Landau, 1982, J. Multivariate Analysis 12(3).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pyrogen.metrics._checks import as_matrix_pair

Features = Callable[[torch.Tensor], torch.Tensor]


def _sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(a)
    return (evecs * evals.clamp(min=0).sqrt()) @ evecs.T


def frechet_distance(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor
) -> torch.Tensor:
    """Squared Frechet distance between N(mu1, cov1) and N(mu2, cov2); means ``(D,)``,
    covariances ``(D, D)``; computed in float64, returns a 0-dim tensor."""
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    s1 = _sqrtm_psd(cov1)
    # Tr (S1^1/2 S2 S1^1/2)^1/2 through the eigenvalues of a symmetric PSD matrix, which is
    # stabler than a general matrix square root of S1 S2.
    middle = s1 @ cov2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2) ** 2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt


def _moments(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = f.double()
    return f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])


@torch.no_grad()
def fid(
    x: torch.Tensor,
    y: torch.Tensor,
    features: Features | None = None,
    batch_size: int = 1000,
) -> torch.Tensor:
    r"""Frechet distance between the feature distributions of ``x`` and ``y``.

    Args:
        x: first sample ``(N, *event)``, N >= 2.
        y: second sample ``(M, *event)``.
        features: maps a batch ``(B, *event)`` to ``(B, F)``, e.g.
            ``load_or_train_classifier(...).features``; ``None`` uses the flattened inputs
            themselves (identity features).
        batch_size: batch size of the feature network.

    Returns:
        A 0-dim float64 tensor (squared distance, as FID is reported).
    """
    as_matrix_pair(x, y, "fid", min_rows=2)
    if features is None:
        fx, fy = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    else:
        fx = torch.cat([features(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        fy = torch.cat([features(y[i : i + batch_size]) for i in range(0, len(y), batch_size)])
    return frechet_distance(*_moments(fx), *_moments(fy.to(fx.device)))
