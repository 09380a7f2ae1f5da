"""The generated "signals" dataset: shapes, determinism, distinct splits, bad input."""

from __future__ import annotations

import pytest
import torch

from pyrogen.data import DATASETS, SIGNAL_KINDS, SignalData, load


def test_splits_have_the_registered_shape_dtype_and_labels():
    info = DATASETS["signals"]
    for split, n in info.splits.items():
        x, y = load("signals", split)
        assert x.shape == (n, *info.shape) and x.dtype == torch.float32
        assert y is not None and y.dtype == torch.int64 and y.shape == (n,)
        assert set(y.tolist()) == set(range(len(SIGNAL_KINDS))) == set(range(info.num_classes))
        assert torch.isfinite(x).all()


def test_every_load_returns_the_same_signals():
    a, b = load("signals", "test"), load("signals", "test")
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    # A fixed split does not touch (or depend on) the global random state.
    torch.manual_seed(123)
    state = torch.get_rng_state()
    c = load("signals", "test")
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(a.x, c.x)


def test_train_and_test_are_different_draws_of_one_distribution():
    train, test = load("signals", "train").x, load("signals", "test").x
    # no test signal occurs in the training split
    dist = torch.cdist(test, train)
    assert dist.min() > 1.0
    # ... yet both come from the same mixture: per-step mean and variance agree up to sampling
    # error (with per-signal variance about 0.7, the standard error of the pooled variance is
    # far below 0.1).
    assert abs(train.mean() - test.mean()) < 0.05
    assert abs(train.var() - test.var()) < 0.1


def test_signals_cannot_be_binarized_and_have_no_valid_split():
    with pytest.raises(ValueError, match="real-valued signals; binarize must be None"):
        load("signals", binarize="threshold")
    with pytest.raises(ValueError, match="unknown split 'valid'.*train, test"):
        load("signals", "valid")


def test_signal_data_checks_its_arrays():
    with pytest.raises(ValueError, match=r"shape \(N, T\), got \(2, 1, 3\)"):
        SignalData(torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="float32"):
        SignalData(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"int64 tensor of shape \(2,\)"):
        SignalData(torch.zeros(2, 3), torch.zeros(3, dtype=torch.int64))
    data = SignalData(torch.ones(2, 3), torch.tensor([0, 1]), name="s", split="train")
    x, y = data
    assert len(data) == 2 and torch.equal(data.epoch(), x) and data.to("cpu").name == "s"
