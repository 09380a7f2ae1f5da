"""A checkpoint that cannot be written (the disk fills, a file-size limit, an I/O error)
stops training with a clear error, and the previous checkpoint is intact, byte for byte."""

from __future__ import annotations

import errno
import hashlib
import re
import resource
import signal

import pytest
import torch
from fork_server import forkserver_context

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


def _fit_under_file_size_limit(out, size, conn):
    """In a child process: this process's limit on the size of a file it writes
    (RLIMIT_FSIZE) gives a real write failure from the kernel (EFBIG), with no patching and
    no privileges; the test process itself, whose own output may be a growing file, never
    runs under it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        _fit(_trainer(), out, epochs=2)
        conn.send("no error")
    except CheckpointWriteError as e:
        conn.send(str(e))


def test_a_real_write_failure_is_reported_with_the_system_error(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    _fit(_trainer(), tmp_path, epochs=1)
    before = _digest(ckpt)
    ctx = forkserver_context(__name__)
    ours, theirs = ctx.Pipe()
    child = ctx.Process(
        target=_fit_under_file_size_limit, args=(tmp_path, ckpt.stat().st_size // 2, theirs)
    )
    child.start()
    child.join(300)
    assert child.exitcode == 0
    assert re.search(r"could not write .*: File too large \(EFBIG\)", ours.recv())
    assert _digest(ckpt) == before
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
