"""MNIST and Fashion-MNIST from the staged IDX files against their published statistics."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from pyrogen.data import load

# Published class counts (shared/data/README.md; LeCun et al.'s MNIST page).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_train(shared_data):
    return load("mnist", "train", root=shared_data, download=False)


@pytest.fixture(scope="module")
def mnist_test(shared_data):
    return load("mnist", "test", root=shared_data, download=False)


def test_mnist_train_shapes_range_and_published_statistics(mnist_train):
    x, y = mnist_train
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    # the widely used normalization constants of MNIST train
    assert float(x.mean()) == pytest.approx(0.1307, abs=5e-5)
    assert float(x.std()) == pytest.approx(0.3081, abs=5e-5)
    assert y.dtype == torch.int64 and y.shape == (60000,)
    assert torch.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    assert len(mnist_train) == 60000
    assert (mnist_train.name, mnist_train.split, mnist_train.binarize) == ("mnist", "train", None)


def test_mnist_test_counts_and_exact_grey_levels(mnist_test, shared_data):
    x, y = mnist_test
    assert x.shape == (10000, 1, 28, 28)
    assert torch.bincount(y).tolist() == MNIST_TEST_COUNTS
    raw = gzip.decompress((shared_data / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(10000, 1, 28, 28)
    # x is exactly pixel / 255, image by image in file order
    torch.testing.assert_close(x, torch.from_numpy(pixels.astype(np.float32) / 255), rtol=0, atol=0)


def test_threshold_binarization_is_pixel_at_least_128(mnist_test, shared_data):
    data = load("mnist", "test", root=shared_data, binarize="threshold", download=False)
    assert data.binarize == "threshold"
    grey = (mnist_test.x * 255).round()
    assert torch.equal(data.x, (grey >= 128).float())
    assert torch.equal(data.y, mnist_test.y)
    # fixed: every epoch is the same binary tensor
    assert data.epoch() is data.x


@pytest.mark.parametrize("split, n", [("train", 6000), ("test", 1000)])
def test_fashion_mnist_is_balanced(shared_data, split, n):
    x, y = load("fashion_mnist", split, root=shared_data, download=False)
    assert x.shape == (10 * n, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.bincount(y).tolist() == [n] * 10
    # Fashion-MNIST is brighter than MNIST (mean grey level about 0.286)
    assert float(x.mean()) == pytest.approx(0.286, abs=2e-3)
