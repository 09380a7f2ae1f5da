import pytest
import torch

from pyrogen.metrics import c2st


def test_identical_distributions_give_chance_accuracy():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g)
    # Under the null the held-out accuracy is about N(0.5, 1 / (4 * 1000)): sd 0.016.
    assert c2st(x, y, steps=200) == pytest.approx(0.5, abs=0.06)


def test_disjoint_samples_give_accuracy_one():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g) + 8.0
    assert c2st(x, y, steps=200) > 0.99


def test_same_mean_different_scale_is_detected():
    # A linear classifier could not do this; the hidden layer can.
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(1000, 2, generator=g), 3.0 * torch.randn(1000, 2, generator=g)
    assert c2st(x, y, steps=300) > 0.7
