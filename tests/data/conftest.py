"""Fixtures for the data tests: the staged real datasets and a guard against network access."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _shared_data_dir() -> Path:
    env = os.environ.get("PYROGEN_DATA")
    if env:
        return Path(env).expanduser().resolve()
    # <repo>/../shared/data for a clone next to shared/; one level up for a git worktree
    candidates = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    for c in candidates:
        if (c / "mnist").is_dir():
            return c.resolve()
    return candidates[0]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Directory holding the staged mnist/, fashion_mnist/ and binarized_mnist/ files."""
    path = _shared_data_dir()
    needed = ["mnist", "fashion_mnist", "binarized_mnist"]
    if not all((path / d).is_dir() for d in needed):
        pytest.fail(
            f"the data tests need the staged datasets ({', '.join(needed)}) under {path}; "
            f"set PYROGEN_DATA to the directory that holds them"
        )
    return path


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails any test that tries to open a connection to a host other than this machine."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        host = address[0]
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a data test tried to reach {host}; tests must stay offline")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    # a mirror configured in the environment must not leak into tests
    monkeypatch.delenv("PYROGEN_DATA_MIRROR", raising=False)


@pytest.fixture(scope="session")
def amat_mirror(shared_data, tmp_path_factory) -> Path:
    """A mirror directory holding the three Larochelle ``.amat`` files of binarized MNIST.

    They are written from the staged arrays in the published text layout (784 digits separated
    by single spaces, one row per line); the tests check them against the published sha256s.
    """
    import numpy as np

    mirror = tmp_path_factory.mktemp("amat_mirror")
    folder = mirror / "binarized_mnist"
    folder.mkdir()
    with np.load(shared_data / "binarized_mnist" / "binarized_mnist.npz") as f:
        for split in ("train", "valid", "test"):
            a = f[split]
            text = np.full((a.shape[0], 2 * a.shape[1]), ord(" "), dtype=np.uint8)
            text[:, 0::2] = a + ord("0")
            text[:, -1] = ord("\n")
            (folder / f"binarized_mnist_{split}.amat").write_bytes(text.tobytes())
    return mirror
