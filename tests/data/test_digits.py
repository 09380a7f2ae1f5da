"""scikit-learn's digits: the documented fixed split, scaling and labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from pyrogen.data import load


@pytest.fixture(scope="module")
def sk():
    return load_digits()


def test_split_is_the_documented_seeded_permutation(sk):
    perm = np.random.RandomState(0).permutation(1797)
    for split, rows in (("train", perm[:1500]), ("test", perm[1500:])):
        x, y = load("digits", split)
        assert x.shape == (len(rows), 1, 8, 8) and x.dtype == torch.float32
        expected = torch.from_numpy(sk.images[rows] / 16).float().unsqueeze(1)
        assert torch.equal(x, expected)
        assert torch.equal(y, torch.from_numpy(sk.target[rows]))
    assert sorted(perm.tolist()) == list(range(1797))  # train and test partition the set


def test_values_are_sixteenths_in_unit_interval():
    x, _ = load("digits", "train")
    levels = x * 16
    assert torch.equal(levels, levels.round())
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


def test_every_class_is_in_both_splits():
    for split, least in (("train", 120), ("test", 15)):
        counts = torch.bincount(load("digits", split).y, minlength=10)
        assert int(counts.min()) >= least, (split, counts.tolist())


def test_digits_is_the_default_dataset():
    assert torch.equal(load().x, load("digits", "train").x)
