"""Omniglot (the IWAE paper's chardata.mat) on synthetic files of the same layout: image
orientation, splits, the md5 / git blob SHA-1 checks, and the offline message. The real file is
not staged here, so the registry's digests are pointed at each synthetic file."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import numpy as np
import pytest
import scipy.io as scipy_io
import torch

from pyrogen.data import DATASETS, ChecksumError, DatasetNotFoundError, FileSpec, load
from pyrogen.data.download import file_digests

REAL = DATASETS["omniglot"].files["train"][0]


def _images(n: int, seed: int) -> np.ndarray:
    """Grey-level images that are not symmetric under transposition or flips."""
    rng = np.random.default_rng(seed)
    imgs = rng.uniform(0.0, 1.0, size=(n, 28, 28))
    imgs[:, 0, :] = 1.0  # top row lit
    imgs[:, :, 0] = 0.0  # left column dark (the corner (0, 0) too)
    return imgs


def _matlab_columns(imgs: np.ndarray) -> np.ndarray:
    """(784, N): column n holds image n in MATLAB's column-major order, written out by hand."""
    n = imgs.shape[0]
    cols = np.empty((784, n))
    for k in range(n):
        for r in range(28):
            for c in range(28):
                cols[r + 28 * c, k] = imgs[k, r, c]
    return cols


def _write_chardata(folder, train: np.ndarray, test: np.ndarray):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chardata.mat"
    # one-hot alphabet targets ride along in the real file; the loader must ignore them
    target = np.eye(3)[:, np.arange(train.shape[0]) % 3]
    mdict = {"data": _matlab_columns(train), "testdata": _matlab_columns(test), "target": target}
    scipy_io.savemat(path, mdict)
    return path


def _register(monkeypatch, path) -> FileSpec:
    """Points the registry's digests at ``path``, computed here with hashlib directly."""
    raw = path.read_bytes()
    spec = FileSpec(
        "chardata.mat",
        sha256="",
        size=None,
        md5=hashlib.md5(raw).hexdigest(),
        git_sha1=hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest(),
    )
    info = dataclasses.replace(
        DATASETS["omniglot"],
        files={split: (spec,) for split in ("train", "test")},
        downloads=(spec,),
    )
    monkeypatch.setitem(DATASETS, "omniglot", info)
    return spec


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    train, test = _images(5, 0), _images(3, 1)
    path = _write_chardata(tmp_path / "omniglot", train, test)
    spec = _register(monkeypatch, path)
    return tmp_path, path, spec, train, test


def test_splits_are_upright_grey_images(synthetic):
    root, path, _, train, test = synthetic
    for split, imgs in (("train", train), ("test", test)):
        x, y = load("omniglot", split, root=root, download=False)
        assert y is None and x.dtype == torch.float32
        assert x.shape == (imgs.shape[0], 1, 28, 28)
        np.testing.assert_allclose(x[:, 0].numpy(), imgs, atol=1e-7)
        assert bool((x[:, 0, 0, 1:] == 1).all()) and bool((x[:, 0, :, 0] == 0).all())


def test_flattened_images_are_the_vectors_the_iwae_code_uses(synthetic):
    """The IWAE code: data.T.reshape((-1, 28, 28)).reshape((-1, 784), order='fortran')."""
    root, path, _, _, _ = synthetic
    raw = scipy_io.loadmat(path)["data"].T
    iwae = raw.reshape((-1, 28, 28)).reshape((-1, 784), order="F")
    x = load("omniglot", "train", root=root, download=False).x
    np.testing.assert_allclose(x.flatten(1).numpy(), iwae, atol=1e-7)
    # a loader that forgets the transpose gives other vectors
    assert not np.allclose(raw.reshape(-1, 784), iwae)


def test_grey_levels_are_kept_and_binarized_dynamically(synthetic):
    root, _, _, train, _ = synthetic
    data = load("omniglot", "train", root=root, download=False, binarize="dynamic")
    assert float(data.x.min()) >= 0 and float(data.x.max()) <= 1
    assert bool(((data.x > 0) & (data.x < 1)).any()), "grey levels, not a fixed binarization"
    draws = torch.stack([data.epoch(torch.Generator().manual_seed(s)) for s in range(400)])
    assert bool(((draws == 0) | (draws == 1)).all())
    # Bernoulli(x): the mean of 400 draws is within 5 standard errors of the grey level
    assert float((draws.mean(0) - data.x).abs().max()) < 5 * 0.5 / 400**0.5


def test_missing_file_names_the_path_digests_and_source(tmp_path):
    root = tmp_path / "cache"
    with pytest.raises(DatasetNotFoundError) as info:
        load("omniglot", "test", root=root, download=False)
    message = str(info.value)
    assert str(root / "omniglot" / "chardata.mat") in message
    assert "md5 21ecaf34373511aa7691cf2e0802aa3d" in message
    assert "git blob SHA-1 016a3536ffe5e1d38e42563a18d7a78bfaf643ec" in message
    assert "sha256 and size not published" in message
    assert "github.com/yburda/iwae" in message
    assert not root.exists(), "a refused load must not create the data root"


def test_a_different_file_is_refused_by_md5_and_kept(synthetic, monkeypatch):
    root, path, spec, _, _ = synthetic
    info = DATASETS["omniglot"]
    real = {split: (REAL,) for split in info.files}
    monkeypatch.setitem(DATASETS, "omniglot", dataclasses.replace(info, files=real))
    with pytest.raises(ChecksumError, match=f"has md5 {spec.md5}, expected {REAL.md5}"):
        load("omniglot", "train", root=root, download=False)
    assert path.is_file(), "a file the user placed is never deleted"


def test_a_damaged_file_is_refused_by_git_blob_sha1(synthetic, monkeypatch):
    root, path, spec, _, _ = synthetic
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    # only the git blob SHA-1 is checked here, so the message must come from that check
    only_sha1 = dataclasses.replace(spec, md5="")
    info = dataclasses.replace(
        DATASETS["omniglot"], files={s: (only_sha1,) for s in ("train", "test")}
    )
    monkeypatch.setitem(DATASETS, "omniglot", info)
    with pytest.raises(ChecksumError, match=f"git blob SHA-1 .* expected {spec.git_sha1}"):
        load("omniglot", "test", root=root, download=False)


def test_download_from_a_mirror_is_verified_before_it_is_kept(synthetic, tmp_path, monkeypatch):
    _, path, spec, train, _ = synthetic
    mirror = tmp_path / "mirror"
    (mirror / "omniglot").mkdir(parents=True)
    shutil.copyfile(path, mirror / "omniglot" / "chardata.mat")
    root = tmp_path / "root"
    x = load("omniglot", "train", root=root, mirror=mirror).x
    np.testing.assert_allclose(x[:, 0].numpy(), train, atol=1e-7)
    assert (root / "omniglot" / "chardata.mat").read_bytes() == path.read_bytes()
    # the same bytes under the real file's digests are rejected and not saved
    info = DATASETS["omniglot"]
    monkeypatch.setitem(
        DATASETS, "omniglot", dataclasses.replace(info, files={s: (REAL,) for s in info.files})
    )
    other = tmp_path / "other"
    with pytest.raises(ChecksumError, match=f"expected {REAL.md5}.*rejected"):
        load("omniglot", "train", root=other, mirror=mirror)
    assert not any((other / "omniglot").iterdir())


def test_unreadable_or_misshapen_files_are_reported(tmp_path, monkeypatch):
    folder = tmp_path / "omniglot"
    folder.mkdir()
    path = folder / "chardata.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, but cut short")
    _register(monkeypatch, path)
    with pytest.raises(ChecksumError, match="not a readable MATLAB"):
        load("omniglot", "train", root=tmp_path, download=False)
    scipy_io.savemat(path, {"data": np.zeros((783, 2))})
    _register(monkeypatch, path)
    with pytest.raises(ValueError, match=r"shape \(784, N\), got shape \(783, 2\)"):
        load("omniglot", "train", root=tmp_path, download=False)
    with pytest.raises(ChecksumError, match="expected a variable 'testdata'"):
        load("omniglot", "test", root=tmp_path, download=False)
    scipy_io.savemat(path, {"data": np.full((784, 2), 255.0)})
    _register(monkeypatch, path)
    with pytest.raises(ValueError, match=r"grey levels in \[0, 1\]"):
        load("omniglot", "train", root=tmp_path, download=False)


def test_git_blob_sha1_is_what_git_hash_object_prints(tmp_path):
    # the values `git hash-object` prints for an empty file and for "hello\n"
    empty, hello = tmp_path / "empty", tmp_path / "hello"
    empty.write_bytes(b"")
    hello.write_bytes(b"hello\n")
    assert file_digests(empty, ["git_sha1"]) == {
        "git_sha1": "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    }
    got = file_digests(hello, ["git_sha1", "md5"])
    assert got["git_sha1"] == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert got["md5"] == "b1946ac92492d2347c6235b4d2611184"


def test_a_file_spec_needs_some_digest():
    with pytest.raises(ValueError, match="needs a sha256, md5 or git_sha1"):
        FileSpec("x.mat", sha256="", size=None)
