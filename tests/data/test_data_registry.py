"""The dataset registry agrees with the staged files and lists what load() accepts."""

from __future__ import annotations

import pytest

from pyrogen.data import DATASETS, list_datasets, load
from pyrogen.data.download import sha256_file


def test_list_datasets_names_every_registered_dataset():
    assert list_datasets() == [
        "binarized_mnist",
        "digits",
        "fashion_mnist",
        "mnist",
        "omniglot",
        "signals",
    ]
    assert set(list_datasets()) == set(DATASETS)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "binarized_mnist"])
def test_registry_sha256_and_size_match_the_staged_files(shared_data, name):
    info = DATASETS[name]
    specs = {s for files in info.files.values() for s in files}
    assert specs, "every downloadable dataset lists its files"
    for spec in specs:
        path = shared_data / name / spec.name
        assert path.stat().st_size == spec.size
        assert sha256_file(path) == spec.sha256


def test_metadata_is_consistent():
    for name, info in DATASETS.items():
        assert info.name == name
        # images are (C, H, W); the generated signals are (T,)
        assert len(info.shape) == (1 if name == "signals" else 3)
        assert set(info.files) <= set(info.splits)
        if name not in ("digits", "signals"):
            assert set(info.files) == set(info.splits)
            assert info.urls and all(u.endswith("/") for u in info.urls)
            assert info.downloads
    # binarized MNIST is the only converted dataset, so the only one checked by array content
    assert set(DATASETS["binarized_mnist"].content_sha256) == {"train", "valid", "test"}
    assert DATASETS["binarized_mnist"].num_classes is None


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*binarized_mnist, digits"):
        load("cifar")


def test_unknown_split_lists_the_valid_splits():
    with pytest.raises(ValueError, match="unknown split 'valid'.*train, test"):
        load("mnist", "valid", download=False)
    with pytest.raises(ValueError, match="train, valid, test"):
        load("binarized_mnist", "validation", download=False)


def test_unknown_binarize_mode_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown binarize mode 'stochastic'.*'dynamic'"):
        load("digits", binarize="stochastic")
