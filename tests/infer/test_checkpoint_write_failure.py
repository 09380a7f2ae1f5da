"""A checkpoint that cannot be written (the disk fills, a file-size limit, an I/O error)
stops training with a clear error, and the previous checkpoint is intact, byte for byte."""

from __future__ import annotations

import errno
import hashlib
import resource
import signal

import pytest
import torch

from pyrogen.infer import CheckpointWriteError, SVITrainer, fit, load_checkpoint, save_checkpoint
from pyrogen.infer import atomic_write as aw
from pyrogen.models import VAE


def _bits():
    g = torch.Generator().manual_seed(0)
    return torch.rand(64, 1, 8, 8, generator=g).bernoulli(generator=g)


def _trainer(seed=0):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=2, hidden=(8,)), lr=1e-2)


def _fit(trainer, out, epochs):
    return fit(trainer, _bits(), epochs=epochs, batch_size=16, out=out, progress=False, seed=1)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _disk_full_after(monkeypatch, room):
    """Writes fail with ENOSPC once ``room`` more bytes went into files being written."""
    real = aw._FullWrites.write
    left = [room]

    def write(self, data):
        n = len(memoryview(data).cast("B"))
        if n > left[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        left[0] -= n
        return real(self, data)

    monkeypatch.setattr(aw._FullWrites, "write", write)


@pytest.mark.parametrize("room", [0, 3000])  # full at once, or in the middle of the file
def test_a_full_disk_stops_training_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, room):
    ckpt = tmp_path / "checkpoint.pt"
    _fit(_trainer(), tmp_path, epochs=1)
    before = _digest(ckpt)
    _disk_full_after(monkeypatch, room)
    with pytest.raises(CheckpointWriteError) as info:
        _fit(_trainer(), tmp_path, epochs=3)
    message = str(info.value)
    assert f"could not write {ckpt}: No space left on device (ENOSPC)" in message
    assert f"{ckpt} was left as it was: it holds the previous checkpoint, intact" in message
    assert "Training stopped at the end of epoch 2 (step 8 of the run)" in message
    assert "the last checkpoint written holds the end of epoch 1 (step 4 of the run)" in message
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert _digest(ckpt) == before and load_checkpoint(ckpt)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.csv"]

    monkeypatch.undo()  # room again: the run continues from epoch 1 as if nothing happened
    straight, resumed = _trainer(), _trainer(seed=9)
    _fit(straight, tmp_path / "straight", epochs=3)
    _fit(resumed, tmp_path, epochs=3)
    for a, b in zip(straight.module.parameters(), resumed.module.parameters()):
        assert torch.equal(a, b)


def test_a_failed_first_checkpoint_says_there_is_none(tmp_path, monkeypatch):
    _disk_full_after(monkeypatch, 0)
    with pytest.raises(CheckpointWriteError, match="no checkpoint there before.* none now"):
        save_checkpoint(tmp_path / "c.pt", {"epoch": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def file_size_limit():
    """Sets this process's limit on the size of a file it writes (RLIMIT_FSIZE): a real
    write failure from the kernel (EFBIG), with no patching and no privileges."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process

    def limit(size):
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))

    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_real_write_failure_is_reported_with_the_system_error(tmp_path, file_size_limit):
    ckpt = tmp_path / "checkpoint.pt"
    _fit(_trainer(), tmp_path, epochs=1)
    before = _digest(ckpt)
    file_size_limit(ckpt.stat().st_size // 2)
    with pytest.raises(CheckpointWriteError, match=r"could not write .*: File too large \(EFBIG\)"):
        _fit(_trainer(), tmp_path, epochs=2)
    assert _digest(ckpt) == before
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
