import math

import pytest
import torch

from pyrogen.data import eight_gaussians_centers, twenty_five_gaussians_centers
from pyrogen.metrics import mode_coverage


def _mixture(centers, std, n, g):
    idx = torch.randint(0, len(centers), (n,), generator=g)
    return centers[idx] + std * torch.randn(n, 2, generator=g)


def test_samples_from_some_modes():
    centers, std = eight_gaussians_centers(), 0.02
    g = torch.Generator().manual_seed(0)
    out = mode_coverage(_mixture(centers[:5], std, 20000, g), centers, std)
    assert out["modes"] == 5
    # In 2-D, P(||N(0, I)|| <= 3) = 1 - exp(-9 / 2).
    assert out["quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.004)
    assert out["kl"] == pytest.approx(math.log(8 / 5), abs=0.01)


def test_far_points_lower_quality_and_stray_points_do_not_cover():
    centers, std = twenty_five_gaussians_centers(), 0.05
    g = torch.Generator().manual_seed(1)
    good = _mixture(centers[:10], std, 9000, g)
    far = torch.full((1000, 2), 1.0)  # midway between grid modes: low quality
    stray = centers[10:12] + 0.01  # one high-quality point at each of two more modes
    out = mode_coverage(torch.cat([good, far, stray]), centers, std)
    assert out["modes"] == 10
    assert out["quality"] == pytest.approx((0.9889 * 9000 + 2) / 10002, abs=0.005)
    assert mode_coverage(torch.cat([good, stray]), centers, std, min_count=1)["modes"] == 12


def test_full_coverage_of_the_true_distribution():
    centers, std = twenty_five_gaussians_centers(), 0.05
    out = mode_coverage(
        _mixture(centers, std, 25000, torch.Generator().manual_seed(2)), centers, std
    )
    assert out["modes"] == 25 and out["kl"] < 0.01


def test_bad_input():
    with pytest.raises(ValueError, match=r"samples \(N, D\)"):
        mode_coverage(torch.zeros(5, 3), eight_gaussians_centers(), 0.1)
