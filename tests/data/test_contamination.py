"""Huber's contamination model: the outlier rate and both components' moments."""

from __future__ import annotations

import math

import pytest
import torch

from pyrogen.data import huber_contamination


def test_components_have_the_stated_rate_and_moments(stat_seed):
    n, eps = 20000, 0.2
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    loc = torch.tensor([6.0, 6.0, -6.0], dtype=torch.float64)
    g = torch.Generator().manual_seed(stat_seed)
    x, out = huber_contamination(n, theta, eps, loc, outlier_scale=3.0, generator=g)
    assert x.shape == (n, 3) and x.dtype == torch.float64 and out.dtype == torch.bool
    # Binomial(n, eps) outliers: within 4 standard deviations
    assert abs(out.double().mean().item() - eps) < 4 * math.sqrt(eps * (1 - eps) / n)
    inliers, outliers = x[~out], x[out]
    # means within 4 standard errors, per coordinate
    assert ((inliers.mean(0) - theta).abs() < 4 / math.sqrt(len(inliers))).all()
    assert ((outliers.mean(0) - loc).abs() < 4 * 3.0 / math.sqrt(len(outliers))).all()
    # standard deviations 1 and 3 (relative standard error of a sd estimate ~ 1/sqrt(2m))
    assert ((inliers.std(0) - 1.0).abs() < 4 / math.sqrt(2 * len(inliers))).all()
    assert ((outliers.std(0) - 3.0).abs() < 4 * 3.0 / math.sqrt(2 * len(outliers))).all()


def test_no_contamination_and_a_scalar_outlier_location():
    g = torch.Generator().manual_seed(0)
    x, out = huber_contamination(500, torch.zeros(4), 0.0, 100.0, generator=g)
    assert not out.any() and float(x.abs().max()) < 10
    x, out = huber_contamination(500, torch.zeros(4), 0.5, 100.0, generator=g)
    assert bool((x[out] > 90).all()) and bool((x[~out].abs() < 10).all())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eps": 1.0}, r"eps must lie in \[0, 1\)"),
        ({"theta": torch.zeros(2, 2)}, r"theta must be a floating tensor of shape \(p,\)"),
        ({"outlier_loc": torch.zeros(3)}, r"scalar or of shape \(2,\), got \(3,\)"),
        ({"outlier_scale": 0.0}, "outlier_scale must be > 0"),
        ({"n": 0}, "n must be a positive int"),
    ],
)
def test_bad_input_says_what_was_expected(kwargs, message):
    args = {"n": 10, "theta": torch.zeros(2), "eps": 0.1, "outlier_loc": 5.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        huber_contamination(**args)
