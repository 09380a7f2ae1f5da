"""ImageData: unpacking, validation, and dynamic binarization as Bernoulli(x) draws per epoch."""

from __future__ import annotations

import pytest
import torch

from pyrogen.data import ImageData, load


@pytest.fixture(scope="module")
def digits_dynamic():
    return load("digits", "train", binarize="dynamic")


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_unpacks_as_x_then_y():
    data = load("digits", "test")
    x, y = data
    assert x is data.x and y is data.y
    assert len(data) == 297 == x.shape[0] == y.shape[0]


def test_dynamic_keeps_grey_levels_and_draws_binary_epochs(digits_dynamic):
    x = digits_dynamic.x
    assert bool(((x > 0) & (x < 1)).any()), "x keeps the Bernoulli means"
    sample = digits_dynamic.epoch(_g(0))
    assert sample.shape == x.shape and sample.dtype == torch.float32
    assert bool(((sample == 0) | (sample == 1)).all())
    # Bernoulli(0) = 0 and Bernoulli(1) = 1 exactly
    assert bool((sample[x == 0] == 0).all()) and bool((sample[x == 1] == 1).all())


def test_dynamic_epochs_are_reproducible_per_seed_and_differ_across_draws(digits_dynamic):
    a, b = digits_dynamic.epoch(_g(0)), digits_dynamic.epoch(_g(0))
    assert torch.equal(a, b)
    assert not torch.equal(a, digits_dynamic.epoch(_g(1)))
    g = _g(0)
    first, second = digits_dynamic.epoch(g), digits_dynamic.epoch(g)
    assert not torch.equal(first, second), "each epoch is a fresh draw"


def test_dynamic_epochs_are_bernoulli_with_mean_x(digits_dynamic):
    """Per pixel, the mean of K draws has variance x(1 - x)/K around x: the normalized sum of
    squared deviations is a chi-square over its degrees of freedom, so close to 1."""
    x = digits_dynamic.x
    k = 40
    g = _g(3)
    mean = torch.stack([digits_dynamic.epoch(g) for _ in range(k)]).mean(0)
    inner = (x > 0) & (x < 1)
    var = x[inner] * (1 - x[inner]) / k
    ratio = float(((mean[inner] - x[inner]) ** 2 / var).mean())
    dof = int(inner.sum())
    assert dof > 40000
    assert abs(ratio - 1) < 6 * (2 / dof) ** 0.5  # chi2/dof has sd sqrt(2/dof) ~ 0.007


def test_threshold_and_none_epochs_are_fixed():
    grey = load("digits", "test")
    fixed = load("digits", "test", binarize="threshold")
    assert torch.equal(fixed.x, (grey.x > 0.5).float())
    assert fixed.epoch(_g(0)) is fixed.x and grey.epoch(_g(0)) is grey.x


def test_to_device_keeps_everything():
    data = load("digits", "test", binarize="dynamic").to("cpu")
    assert data.binarize == "dynamic" and data.name == "digits" and data.split == "test"
    assert data.y is not None and data.y.device.type == "cpu"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": torch.zeros(3, 8, 8)}, r"shape \(N, C, H, W\), got \(3, 8, 8\)"),
        ({"x": torch.zeros(3, 1, 8, 8, dtype=torch.float64)}, "float32, got torch.float64"),
        ({"x": torch.zeros(3, 1, 2, 2), "y": torch.zeros(4, dtype=torch.long)}, r"shape \(3,\)"),
        ({"x": torch.zeros(3, 1, 2, 2), "y": torch.zeros(3)}, "int64 tensor"),
        ({"x": torch.zeros(3, 1, 2, 2), "binarize": "bernoulli"}, "binarize must be one of"),
    ],
)
def test_bad_construction_says_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageData(**kwargs)
