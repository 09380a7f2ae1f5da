"""Fixed binarized MNIST: staged arrays, their .amat form against the published sha256s, and
content verification of the stored .npz."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrogen.data import DATASETS, ChecksumError, load
from pyrogen.data.amat import array_sha256, parse_amat
from pyrogen.data.download import sha256_file

INFO = DATASETS["binarized_mnist"]


@pytest.mark.parametrize(
    "split, n, mean",
    [("train", 50000, 0.13056), ("valid", 10000, 0.13113), ("test", 10000, 0.13251)],
)
def test_splits_are_binary_unlabelled_with_published_means(shared_data, split, n, mean):
    data = load("binarized_mnist", split, root=shared_data, download=False)
    x, y = data
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y is None
    assert bool(((x == 0) | (x == 1)).all())
    assert float(x.mean()) == pytest.approx(mean, abs=5e-6)


def test_amat_form_of_staged_arrays_has_the_published_sha256(shared_data, amat_mirror):
    """The staged arrays written as .amat text reproduce the canonical files byte for byte."""
    with np.load(shared_data / "binarized_mnist" / "binarized_mnist.npz") as f:
        arrays = {k: f[k] for k in f.files}
    for spec in INFO.downloads:
        split = spec.name.removesuffix(".amat").rsplit("_", 1)[1]
        path = amat_mirror / "binarized_mnist" / spec.name
        assert path.stat().st_size == spec.size
        assert sha256_file(path) == spec.sha256
        if split != "train":  # parsing the large train file is covered by the download tests
            parsed = parse_amat(path.read_bytes())
            np.testing.assert_array_equal(parsed, arrays[split])
            assert array_sha256(parsed) == INFO.content_sha256[split]


def test_test_split_is_mnist_test_sorted_by_digit(shared_data):
    """A Bernoulli(p/255) draw is 0 where p = 0 and 1 where p = 255, image by image."""
    b = load("binarized_mnist", "test", root=shared_data, download=False).x
    x, y = load("mnist", "test", root=shared_data, download=False)
    p = x[torch.argsort(y, stable=True)]
    assert bool((b[p == 0] == 0).all()) and bool((b[p == 1] == 1).all())
    # the same check fails for a misaligned pairing
    shifted = torch.roll(p, 1, dims=0)
    assert not bool((b[shifted == 0] == 0).all())


def test_npz_with_altered_pixels_is_rejected(tmp_path, shared_data):
    with np.load(shared_data / "binarized_mnist" / "binarized_mnist.npz") as f:
        arrays = {k: f[k].copy() for k in ("valid", "test")}
    arrays["valid"][123, 400] ^= 1
    folder = tmp_path / "binarized_mnist"
    folder.mkdir()
    np.savez_compressed(folder / "binarized_mnist.npz", **arrays)
    # an untouched split still loads; the altered one fails with both sums in the message
    assert load("binarized_mnist", "test", root=tmp_path, download=False).x.shape[0] == 10000
    with pytest.raises(ChecksumError, match=f"'valid'.*expected {INFO.content_sha256['valid']}"):
        load("binarized_mnist", "valid", root=tmp_path, download=False)
    with pytest.raises(ChecksumError, match=r"expected an array named 'train', found \['valid'"):
        load("binarized_mnist", "train", root=tmp_path, download=False)


def test_unreadable_npz_is_rejected(tmp_path):
    folder = tmp_path / "binarized_mnist"
    folder.mkdir()
    (folder / "binarized_mnist.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ChecksumError, match="not a readable .npz"):
        load("binarized_mnist", "test", root=tmp_path, download=False)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"0 1 1\n1 0\n", "not a multiple of 6"),
        (b"0 1 1 1 0 0\n", "single spaces"),
        (b"0 2 1\n", "only the digits 0 and 1"),
        (b"", "got 0 bytes"),
    ],
)
def test_malformed_amat_is_rejected(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_amat(raw, width=3)
