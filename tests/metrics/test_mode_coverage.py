import math

import pytest
import torch

from pyrogen.metrics import grid_centers, mode_coverage, ring_centers, sample_mixture


def test_centers():
    ring = ring_centers(8, radius=2.0)
    assert torch.allclose(ring.norm(dim=1), torch.full((8,), 2.0))
    grid = grid_centers(5, spacing=2.0)
    assert grid.shape == (25, 2) and float(grid.min()) == -4.0 and float(grid.max()) == 4.0


def test_samples_from_some_modes():
    centers, std = ring_centers(8), 0.02
    g = torch.Generator().manual_seed(0)
    samples = sample_mixture(centers[:5], std, 20000, generator=g)
    out = mode_coverage(samples, centers, std)
    assert out["modes"] == 5
    # In 2-D, P(||N(0, I)|| <= 3) = 1 - exp(-9 / 2).
    assert out["quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.004)
    assert out["kl"] == pytest.approx(math.log(8 / 5), abs=0.01)


def test_far_points_lower_quality_and_stray_points_do_not_cover():
    centers, std = grid_centers(5), 0.05
    g = torch.Generator().manual_seed(1)
    good = sample_mixture(centers[:10], std, 9000, generator=g)
    far = torch.full((1000, 2), 1.0)  # midway between grid modes: low quality
    stray = centers[10:12] + 0.01  # one high-quality point at each of two more modes
    out = mode_coverage(torch.cat([good, far, stray]), centers, std)
    assert out["modes"] == 10
    assert out["quality"] == pytest.approx((0.9889 * 9000 + 2) / 10002, abs=0.005)
    assert mode_coverage(torch.cat([good, stray]), centers, std, min_count=1)["modes"] == 12


def test_bad_input():
    with pytest.raises(ValueError, match=r"samples \(N, D\)"):
        mode_coverage(torch.zeros(5, 3), ring_centers(), 0.1)
