import numpy as np
import pytest
import scipy.linalg
import torch

from pyrogen.metrics import fid, frechet_distance


def _random_cov(d, g):
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64)


def test_closed_form_matches_scipy_sqrtm():
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(4, generator=g), torch.randn(4, generator=g)
    c1, c2 = _random_cov(4, g), _random_cov(4, g)
    cross = scipy.linalg.sqrtm(c1.numpy() @ c2.numpy()).real
    expected = float(((mu1 - mu2) ** 2).sum()) + np.trace(c1.numpy() + c2.numpy() - 2 * cross)
    assert float(frechet_distance(mu1, c1, mu2, c2)) == pytest.approx(expected, rel=1e-6)


def test_one_dimensional_and_identical_cases():
    one = torch.ones(1, 1)
    d = frechet_distance(torch.tensor([1.0]), 4 * one, torch.tensor([-1.0]), 9 * one)
    assert float(d) == pytest.approx((1 + 1) ** 2 + (2 - 3) ** 2)  # (mu1-mu2)^2 + (s1-s2)^2
    c = _random_cov(3, torch.Generator().manual_seed(1))
    assert float(frechet_distance(torch.zeros(3), c, torch.zeros(3), c)) == pytest.approx(
        0.0, abs=1e-9
    )


def test_fid_with_identity_features_estimates_the_frechet_distance_of_two_gaussians():
    g = torch.Generator().manual_seed(2)
    mu1, mu2 = torch.tensor([0.0, 1.0, -1.0]), torch.tensor([0.5, 0.0, -1.0])
    c1, c2 = _random_cov(3, g), _random_cov(3, g)
    n = 40000
    l1, l2 = torch.linalg.cholesky(c1).float(), torch.linalg.cholesky(c2).float()
    x = mu1 + torch.randn(n, 3, generator=g) @ l1.T
    y = mu2 + torch.randn(n, 3, generator=g) @ l2.T
    expected = float(frechet_distance(mu1, c1, mu2, c2))
    assert float(fid(x, y)) == pytest.approx(expected, rel=0.03)


def test_pluggable_features_are_used():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(500, 1, 2, 2, generator=g), torch.randn(500, 1, 2, 2, generator=g) + 1
    # Scaling the features by 2 scales the squared distance by 4.
    scaled = fid(x, y, features=lambda t: 2 * t.flatten(1))
    assert float(scaled) == pytest.approx(4 * float(fid(x, y)), rel=1e-6)
