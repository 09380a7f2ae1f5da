import math

import pytest
import torch

from pyrogen.metrics import median_bandwidth, mmd


def test_identical_distributions_give_about_zero():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(1500, 3, generator=g), torch.randn(1500, 3, generator=g)
    assert abs(float(mmd(x, y))) < 3e-3


def test_analytic_value_for_shifted_gaussians():
    # X ~ N(0, s^2), Y ~ N(d, s^2), kernel width b: E k over a difference N(m, v) is
    # b / sqrt(b^2 + v) exp(-m^2 / (2 (b^2 + v))), so MMD^2 = 2c (1 - exp(-d^2 / (2(b^2+2s^2)))).
    s, d, b = 0.7, 1.3, 1.0
    g = torch.Generator().manual_seed(2)
    x = s * torch.randn(4000, 1, generator=g)
    y = d + s * torch.randn(4000, 1, generator=g)
    c = b / math.sqrt(b**2 + 2 * s**2)
    expected = 2 * c * (1 - math.exp(-(d**2) / (2 * (b**2 + 2 * s**2))))
    assert float(mmd(x, y, bandwidth=b)) == pytest.approx(expected, abs=0.015)


def test_unbiased_estimator_matches_its_definition():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(5, 2, 2, generator=g), torch.randn(7, 2, 2, generator=g) + 0.5
    xf, yf = x.reshape(5, -1).double(), y.reshape(7, -1).double()

    def k(a, b):
        return math.exp(-float(((a - b) ** 2).sum()) / (2 * 1.5**2))

    kxx = sum(k(xf[i], xf[j]) for i in range(5) for j in range(5) if i != j) / 20
    kyy = sum(k(yf[i], yf[j]) for i in range(7) for j in range(7) if i != j) / 42
    kxy = sum(k(a, b) for a in xf for b in yf) / 35
    assert float(mmd(x, y, bandwidth=1.5)) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-5)


def test_median_bandwidth_rule():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0]])
    # distances 1, 3, 2
    assert median_bandwidth(x, y) == pytest.approx(2.0)


def test_bad_input_fails_fast():
    with pytest.raises(ValueError, match="same event shape"):
        mmd(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="N >= 2"):
        mmd(torch.zeros(1, 2), torch.zeros(4, 2))
