"""``pyrogen train`` under faults: Ctrl-C prints where training stopped and the command that
resumes it (no traceback); a damaged dataset file is refused, naming it, before a run
directory is written; a disk that fills during a checkpoint is an error with the previous
checkpoint intact; ``--checkpoint-minutes`` is checked before anything is written."""

from __future__ import annotations

import errno
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from pyrogen.cli import main
from pyrogen.cli import training as cli_training
from pyrogen.infer import atomic_write as aw
from pyrogen.infer import load_checkpoint

TIMEOUT = 600  # seconds for a subprocess on a busy machine
# 2 epochs of 750 steps: long enough to be interrupted within an epoch.
TINY = ["train", "vae", "--hidden", "8", "--z-dim", "2", "--batch-size", "2", "--device", "cpu"]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.setdefault("PYROGEN_DATA", str(Path(__file__).parents[3] / "shared" / "data"))
    return env


def _pyrogen(command: str) -> list[str]:
    """A printed ``pyrogen ...`` command as this interpreter runs it."""
    words = shlex.split(command)
    assert words[0] == "pyrogen"
    return [sys.executable, "-m", "pyrogen", *words[1:]]


def test_ctrl_c_prints_where_training_stopped_and_how_to_resume(tmp_path):
    out = tmp_path / "run"
    argv = [*TINY, "--epochs", "2", "--out", str(out)]
    proc = subprocess.Popen(
        _pyrogen(shlex.join(["pyrogen", *argv])),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("training vae on digits")  # training starts
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    stopped = re.search(
        r"interrupted: training stopped at (epoch \d, after \d+ of its batches|the end of "
        r"epoch \d) \(step (\d+) of the run\); its checkpoint is (\S+)\n"
        r"resume with: (pyrogen train .*)\n",
        err,
    )
    assert stopped, err
    assert stopped.group(3) == str(out / "checkpoint.pt")
    steps = int(stopped.group(2))
    assert load_checkpoint(out / "checkpoint.pt")["steps"] == steps  # the last finished step

    resume = _pyrogen(stopped.group(4))
    done = subprocess.run(resume, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert f"resuming from epoch {steps // 750}" in done.stdout
    state = load_checkpoint(out / "checkpoint.pt")
    assert (state["epoch"], state["steps"]) == (2, 1500)
    assert (out / "metrics.csv").read_text().count("\n") == 3  # header, 2 epochs


def _damaged_copy(root: Path, dataset: str, name: str, how: str) -> Path:
    shared = Path(os.environ.get("PYROGEN_DATA", Path(__file__).parents[3] / "shared" / "data"))
    shutil.copytree(shared / dataset, root / dataset)
    path = root / dataset / name
    path.chmod(0o644)
    raw = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
        return path
    where = len(raw) // 2
    if path.suffix == ".npz":  # in the deflate stream of test.npy: zlib fails before the CRC
        info = zipfile.ZipFile(path).getinfo("test.npy")
        name, extra = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
        where = info.header_offset + 30 + name + extra + 2
    raw[where] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize(
    "dataset, name, how",
    [
        ("mnist", "train-images-idx3-ubyte.gz", "truncated"),
        ("mnist", "t10k-labels-idx1-ubyte.gz", "flipped"),
        ("binarized_mnist", "binarized_mnist.npz", "truncated"),
        ("binarized_mnist", "binarized_mnist.npz", "flipped"),
    ],
)
def test_a_damaged_dataset_file_is_refused_with_its_name(tmp_path, capsys, dataset, name, how):
    damaged = _damaged_copy(tmp_path / "data", dataset, name, how)
    out = tmp_path / "run"
    argv = [*TINY, "--dataset", dataset, "--data-root", str(tmp_path / "data")]
    assert main([*argv, "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {damaged}")
    assert "sha256" in err and ("Delete it" in err or "Delete the file" in err)
    assert not out.exists()


def test_a_disk_that_fills_during_a_checkpoint_is_an_error_and_keeps_the_last_one(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    argv = ["train", "vae", "--hidden", "8", "--z-dim", "2", "--device", "cpu", "--out", str(out)]
    assert main([*argv, "--epochs", "1", "--quiet"]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    room = [len((out / "config.json").read_bytes()) + 100]  # config.json fits, no checkpoint

    def write(self, data):
        n = len(memoryview(data).cast("B"))
        if n > room[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        room[0] -= n
        return os.write(self.fd, data)

    monkeypatch.setattr(aw._FullWrites, "write", write)
    assert main([*argv, "--epochs", "2", "--allow-changes", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: could not write {out / 'checkpoint.pt'}: No space left on device" in err
    assert "it holds the previous checkpoint, intact" in err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_checkpoint_minutes_is_checked_passed_to_fit_and_free_on_resume(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    argv = ["train", "vae", "--hidden", "8", "--z-dim", "2", "--device", "cpu", "--quiet"]
    assert main([*argv, "--epochs", "1", "--checkpoint-minutes", "0", "--out", str(out)]) == 2
    assert "--checkpoint-minutes must be a finite number > 0" in capsys.readouterr().err
    assert not out.exists()

    given = []

    def fit(*args, **kwargs):
        given.append(kwargs["checkpoint_minutes"])
        return real_fit(*args, **kwargs)

    real_fit = cli_training.fit
    monkeypatch.setattr(cli_training, "fit", fit)
    assert main([*argv, "--epochs", "1", "--out", str(out)]) == 0
    # Another period on resume is no change to the run: no --allow-changes needed.
    assert main([*argv, "--epochs", "1", "--checkpoint-minutes", "0.5", "--out", str(out)]) == 0
    assert given == [10.0, 0.5]


def test_an_unwritable_run_directory_is_a_one_line_error(tmp_path, capsys):
    """Any OSError of the file system (here --out below a plain file) is reported as one
    line, like a full disk while config.json or metrics.csv is written."""
    from pyrogen.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    argv = ["train", "vae", "--epochs", "1", "--device", "cpu", "--quiet"]
    assert main([*argv, "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and str(blocker) in err
