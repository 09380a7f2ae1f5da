"""Toy 2-D densities: each sampler matches the stated density's geometry and statistics."""

from __future__ import annotations

import math

import pytest
import torch

from pyrogen.data import (
    TOY_2D,
    checkerboard,
    eight_gaussians,
    eight_gaussians_centers,
    rings,
    toy_2d,
    twenty_five_gaussians,
    twenty_five_gaussians_centers,
    two_moons,
)


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(TOY_2D))
def test_shape_dtype_and_seeding(name):
    a = toy_2d(name, 500, _g(0))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, TOY_2D[name](500, _g(0)))
    assert not torch.equal(a, toy_2d(name, 500, _g(1)))
    assert toy_2d(name, 0).shape == (0, 2)


def test_registry_names_and_errors():
    assert sorted(TOY_2D) == [
        "checkerboard",
        "eight_gaussians",
        "rings",
        "twenty_five_gaussians",
        "two_moons",
    ]
    with pytest.raises(ValueError, match="unknown toy density 'spiral'.*eight_gaussians"):
        toy_2d("spiral", 10)
    with pytest.raises(ValueError, match="n must be a non-negative int, got -1"):
        eight_gaussians(-1)
    with pytest.raises(ValueError, match="std must be >= 0"):
        eight_gaussians(3, std=-0.1)


def test_eight_gaussian_centers_are_on_a_circle_45_degrees_apart():
    c = eight_gaussians_centers(radius=2.0)
    assert c.shape == (8, 2)
    torch.testing.assert_close(c.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(c[:, 1], c[:, 0]).double() % (2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8).double() * math.pi / 4, atol=1e-6, rtol=0)


def test_twenty_five_gaussian_centers_form_the_grid():
    c = twenty_five_gaussians_centers(spacing=2.0)
    assert c.shape == (25, 2)
    assert sorted({float(v) for v in c[:, 0]}) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({(float(a), float(b)) for a, b in c}) == 25


@pytest.mark.parametrize(
    "sampler, centers, std",
    [
        (eight_gaussians, eight_gaussians_centers(), 0.02),
        (twenty_five_gaussians, twenty_five_gaussians_centers(), 0.05),
    ],
)
def test_mixture_samples_cluster_evenly_around_the_centers(sampler, centers, std):
    n = 20000
    x = sampler(n, _g(0))
    dist = torch.cdist(x, centers)  # (n, K)
    nearest = dist.argmin(dim=1)
    k = len(centers)
    # P(|e| < 3 sigma) = 1 - exp(-9/2) = 0.9889 for a 2-D isotropic Gaussian
    within = float((dist.min(dim=1).values < 3 * std).float().mean())
    assert abs(within - (1 - math.exp(-4.5))) < 0.005
    counts = torch.bincount(nearest, minlength=k).double()
    sd = math.sqrt(n * (1 / k) * (1 - 1 / k))
    assert float((counts - n / k).abs().max()) < 5 * sd
    for j in range(k):
        member = x[nearest == j]
        se = std / math.sqrt(len(member))
        assert float((member.mean(0) - centers[j]).abs().max()) < 5 * se
        assert float(member.std(0).max() / std) == pytest.approx(1.0, abs=0.15)


def test_two_moons_lie_on_the_two_half_circles():
    n = 10000
    x = two_moons(n, _g(0), noise=0.0)
    on_upper = ((x.norm(dim=1) - 1).abs() < 1e-5) & (x[:, 1] >= -1e-6)
    on_lower = (((x - torch.tensor([1.0, 0.5])).norm(dim=1) - 1).abs() < 1e-5) & (
        x[:, 1] <= 0.5 + 1e-6
    )
    assert bool((on_upper | on_lower).all())
    frac_upper = float(on_upper.float().mean())
    assert abs(frac_upper - 0.5) < 5 * math.sqrt(0.25 / n)
    # E[x] = (1/2)(0, 2/pi) + (1/2)(1, 1/2 - 2/pi) = (1/2, 1/4); noise does not move it
    noisy = two_moons(n, _g(1), noise=0.1)
    torch.testing.assert_close(noisy.mean(0), torch.tensor([0.5, 0.25]), atol=0.03, rtol=0)


def test_rings_have_the_stated_radii_in_equal_shares():
    n = 8000
    x = rings(n, _g(0), num_rings=4, max_radius=3.0, std=0.0)
    r = x.norm(dim=1)
    radii = torch.tensor([0.75, 1.5, 2.25, 3.0])
    which = (r[:, None] - radii).abs().argmin(dim=1)
    torch.testing.assert_close(r, radii[which], atol=1e-5, rtol=0)
    counts = torch.bincount(which, minlength=4).double()
    assert float((counts - n / 4).abs().max()) < 5 * math.sqrt(n * 0.25 * 0.75)
    # uniform angles: E[cos a] = E[sin a] = 0, E[cos^2 a] = 1/2
    unit = x / r[:, None]
    torch.testing.assert_close(unit.mean(0), torch.zeros(2), atol=5 / math.sqrt(2 * n), rtol=0)


def test_checkerboard_fills_the_dark_cells_uniformly():
    n = 16000
    x = checkerboard(n, _g(0), num_cells=4, half_width=2.0)
    assert float(x.min()) >= -2.0 and float(x.max()) <= 2.0
    cell = torch.floor(x + 2.0).long().clamp(0, 3)  # (n, 2), cell width 1
    assert bool((cell.sum(dim=1) % 2 == 0).all()), "no sample on a light cell"
    counts = torch.bincount(cell[:, 0] * 4 + cell[:, 1], minlength=16).double()
    dark = counts[counts > 0]
    assert len(dark) == 8
    assert float((dark - n / 8).abs().max()) < 5 * math.sqrt(n * (1 / 8) * (7 / 8))
    offset = x + 2.0 - cell  # uniform on [0, 1)^2 within a cell: mean 1/2, variance 1/12
    torch.testing.assert_close(offset.mean(0), torch.full((2,), 0.5), atol=0.015, rtol=0)
    torch.testing.assert_close(offset.var(0), torch.full((2,), 1 / 12), atol=0.005, rtol=0)
