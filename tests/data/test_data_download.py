"""Downloads through local mirrors (file:// and a loopback HTTP server), sha256 rejection, and
the offline error message. Nothing here reaches the internet (see conftest's guard)."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
import urllib.error
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from pyrogen.data import DATASETS, ChecksumError, DatasetNotFoundError, load
from pyrogen.data import download as dl
from pyrogen.data.amat import array_sha256
from pyrogen.data.download import candidate_urls, data_root, mirror_url, sha256_file

MNIST_TEST = DATASETS["mnist"].files["test"]
FASHION_TEST = DATASETS["fashion_mnist"].files["test"]


def _mirror_of(shared_data: Path, dest: Path, name: str, specs) -> Path:
    (dest / name).mkdir(parents=True, exist_ok=True)
    for spec in specs:
        shutil.copyfile(shared_data / name / spec.name, dest / name / spec.name)
    return dest


def _no_partial_files(folder: Path) -> bool:
    return not any(p.name.endswith(".part") for p in folder.rglob("*"))


class _Server:
    """A loopback HTTP server over one directory that records the paths it was asked for."""

    def __init__(self, directory: Path):
        requests: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                requests.append(self.path)

        self.requests = requests
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(Handler, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def test_offline_error_says_which_files_to_place_where(tmp_path):
    root = tmp_path / "cache"
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", "test", root=root, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "download=False" in message
    for spec in MNIST_TEST:
        assert f"{root / 'mnist' / spec.name}\n      sha256 {spec.sha256}" in message
    # only the split's files are asked for
    assert "train-images" not in message
    assert not root.exists(), "a refused load must not create the data root"


def test_offline_error_lists_only_the_missing_files(tmp_path, shared_data):
    _mirror_of(shared_data, tmp_path, "mnist", MNIST_TEST[1:])  # labels present, images missing
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", "test", root=tmp_path, download=False)
    assert MNIST_TEST[0].sha256 in str(info.value)
    assert MNIST_TEST[1].sha256 not in str(info.value)


def test_unreachable_sources_give_the_offline_error_with_reasons(tmp_path, monkeypatch):
    tried: list[str] = []

    def refuse(url, dest, spec, timeout=30.0):
        tried.append(url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(dl, "download_file", refuse)
    with pytest.raises(DatasetNotFoundError, match="no source could be reached") as info:
        load("mnist", "test", root=tmp_path)
    # every canonical source is tried once, in registry order; a source that cannot be reached
    # is not tried again for the second file
    assert tried == [base + MNIST_TEST[0].name for base in DATASETS["mnist"].urls]
    assert "network is unreachable" in str(info.value)
    for spec in MNIST_TEST:
        assert str(tmp_path / "mnist" / spec.name) in str(info.value)


def test_download_from_a_file_mirror(tmp_path, shared_data):
    mirror = _mirror_of(shared_data, tmp_path / "mirror", "mnist", MNIST_TEST)
    root = tmp_path / "root"
    data = load("mnist", "test", root=root, mirror=mirror.as_uri())
    expected = load("mnist", "test", root=shared_data, download=False)
    assert torch.equal(data.x, expected.x) and torch.equal(data.y, expected.y)
    for spec in MNIST_TEST:
        assert sha256_file(root / "mnist" / spec.name) == spec.sha256
    assert _no_partial_files(root)
    # the cache now serves the split offline
    assert torch.equal(load("mnist", "test", root=root, download=False).x, expected.x)


def test_download_from_a_loopback_http_server(tmp_path, shared_data):
    mirror = _mirror_of(shared_data, tmp_path / "mirror", "fashion_mnist", FASHION_TEST)
    root = tmp_path / "root"
    with _Server(mirror) as server:
        data = load("fashion_mnist", "test", root=root, mirror=server.url)
    assert sorted(server.requests) == sorted(f"/fashion_mnist/{s.name}" for s in FASHION_TEST)
    assert torch.bincount(data.y).tolist() == [1000] * 10
    for spec in FASHION_TEST:
        assert sha256_file(root / "fashion_mnist" / spec.name) == spec.sha256


def test_corrupted_download_is_rejected_and_removed(tmp_path, shared_data):
    mirror = _mirror_of(shared_data, tmp_path / "mirror", "mnist", MNIST_TEST)
    labels = mirror / "mnist" / MNIST_TEST[1].name
    raw = bytearray(labels.read_bytes())
    raw[100] ^= 0xFF
    labels.write_bytes(bytes(raw))
    root = tmp_path / "root"
    with _Server(mirror) as server, pytest.raises(ChecksumError) as info:
        load("mnist", "test", root=root, mirror=server.url)
    assert f"expected {MNIST_TEST[1].sha256}" in str(info.value)
    assert "rejected" in str(info.value)
    assert not (root / "mnist" / MNIST_TEST[1].name).exists()
    assert _no_partial_files(root)


def test_http_404_is_reported_as_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with _Server(tmp_path / "empty") as server, pytest.raises(DatasetNotFoundError) as info:
        load("mnist", "test", root=tmp_path / "root", mirror=server.url)
    assert f"{server.url}mnist/{MNIST_TEST[0].name}: HTTP 404" in str(info.value)
    assert _no_partial_files(tmp_path / "root")


def test_corrupt_file_already_on_disk_is_reported_and_kept(tmp_path, shared_data):
    _mirror_of(shared_data, tmp_path, "mnist", MNIST_TEST)
    path = tmp_path / "mnist" / MNIST_TEST[0].name
    with open(path, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(
        ChecksumError, match=f"{path} has sha256 .* expected {MNIST_TEST[0].sha256}"
    ):
        load("mnist", "test", root=tmp_path, download=False)
    assert path.stat().st_size == 1000, "a file the user placed is never deleted"


def test_binarized_mnist_is_downloaded_as_amat_and_converted(tmp_path, shared_data, amat_mirror):
    root = tmp_path / "root"
    test = load("binarized_mnist", "test", root=root, mirror=str(amat_mirror))
    folder = root / "binarized_mnist"
    assert sorted(p.name for p in folder.iterdir()) == ["binarized_mnist.npz"], (
        "the downloaded .amat files are removed after conversion"
    )
    # the built arrays are the fixed binarization, not just any arrays of the right shape
    with np.load(folder / "binarized_mnist.npz") as built:
        assert sorted(built.files) == ["test", "train", "valid"]
        for split in built.files:
            assert array_sha256(built[split]) == DATASETS["binarized_mnist"].content_sha256[split]
    with np.load(shared_data / "binarized_mnist" / "binarized_mnist.npz") as staged:
        assert torch.equal(test.x.flatten(1), torch.from_numpy(staged["test"]).float())


def test_binarized_mnist_amat_placed_by_hand_is_converted_offline(tmp_path, amat_mirror):
    folder = tmp_path / "binarized_mnist"
    folder.mkdir()
    for spec in DATASETS["binarized_mnist"].downloads:
        os.link(amat_mirror / "binarized_mnist" / spec.name, folder / spec.name)
    data = load("binarized_mnist", "valid", root=tmp_path, download=False)
    assert data.x.shape == (10000, 1, 28, 28)
    # the user's originals stay
    assert all((folder / s.name).is_file() for s in DATASETS["binarized_mnist"].downloads)


def test_corrupted_amat_is_rejected_before_conversion(tmp_path, amat_mirror):
    mirror = tmp_path / "mirror"
    shutil.copytree(amat_mirror, mirror, copy_function=os.link)
    bad = mirror / "binarized_mnist" / "binarized_mnist_valid.amat"
    raw = bytearray(bad.read_bytes())
    bad.unlink()  # break the hard link before editing
    raw[0] = ord("1") if raw[0] == ord("0") else ord("0")
    bad.write_bytes(bytes(raw))
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match="binarized_mnist_valid.amat has sha256"):
        load("binarized_mnist", "test", root=root, mirror=mirror)
    assert not (root / "binarized_mnist" / "binarized_mnist.npz").exists()


def test_root_and_mirror_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PYROGEN_DATA", raising=False)
    assert data_root() == tmp_path / "home" / ".cache" / "pyrogen"
    monkeypatch.setenv("PYROGEN_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"

    assert mirror_url() is None
    monkeypatch.setenv("PYROGEN_DATA_MIRROR", "http://127.0.0.1:9/m")
    assert mirror_url() == "http://127.0.0.1:9/m/"
    assert mirror_url(tmp_path) == tmp_path.as_uri() + "/"
    spec = MNIST_TEST[0]
    assert candidate_urls(DATASETS["mnist"], spec, mirror_url()) == [
        f"http://127.0.0.1:9/m/mnist/{spec.name}"
    ]
    assert candidate_urls(DATASETS["mnist"], spec, None)[0] == DATASETS["mnist"].urls[0] + spec.name


def test_environment_root_and_mirror_are_used_by_load(tmp_path, shared_data, monkeypatch):
    mirror = _mirror_of(shared_data, tmp_path / "mirror", "mnist", MNIST_TEST)
    monkeypatch.setenv("PYROGEN_DATA", str(tmp_path / "env_root"))
    monkeypatch.setenv("PYROGEN_DATA_MIRROR", str(mirror))
    assert len(load("mnist", "test")) == 10000
    assert (tmp_path / "env_root" / "mnist" / MNIST_TEST[0].name).is_file()


def test_transfer_cut_short_leaves_no_file(tmp_path, shared_data):
    """A server that announces the full length but closes half-way: nothing is saved."""

    class Truncating(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            payload = (shared_data / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Truncating)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    root = tmp_path / "root"
    try:
        with pytest.raises(DatasetNotFoundError) as info:
            load("mnist", "test", root=root, mirror=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    size = MNIST_TEST[0].size
    assert f"transfer cut short: received {size // 2:,} of {size:,} bytes" in str(info.value)
    assert not any((root / "mnist").iterdir())


def test_unwritable_root_is_reported_as_such(tmp_path, monkeypatch):
    monkeypatch.setattr(dl.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match=f"cannot write downloads to {tmp_path / 'mnist'}"):
        load("mnist", "test", root=tmp_path, mirror=str(tmp_path / "mirror"))


def test_file_mirror_missing_one_file_still_delivers_the_other(tmp_path, shared_data):
    mirror = _mirror_of(shared_data, tmp_path / "mirror", "mnist", MNIST_TEST[1:])
    root = tmp_path / "root"
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", "test", root=root, mirror=mirror)
    assert f"{MNIST_TEST[0].name}: [Errno 2]" in str(info.value)
    assert MNIST_TEST[1].sha256 not in str(info.value)
    assert sha256_file(root / "mnist" / MNIST_TEST[1].name) == MNIST_TEST[1].sha256
