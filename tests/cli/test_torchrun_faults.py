"""A worker of ``torchrun -m pyrogen train`` on 2 CPU processes is killed mid-run: the
survivor prints a clear error naming the checkpoint to resume from (no hang, no gloo
traceback), and ``pyrogen train`` in one process resumes that checkpoint to the end.

A real ``torchrun`` launch of the command line, as in ``test_torchrun_cli.py``; the
workers are found as the launcher's children (Linux ``/proc``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pyrogen.infer import load_checkpoint

TIMEOUT = 600
EPOCHS, STEPS = 3, 3 * 150  # digits: 1500 examples, batches of 10
TRAIN = ["train", "vae", "--hidden", "8", "--z-dim", "2", "--batch-size", "10", "--device", "cpu"]
TRAIN += ["--epochs", str(EPOCHS), "--checkpoint-minutes", "0.002"]  # every 0.12 s


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.setdefault("PYROGEN_DATA", str(Path(__file__).parents[3] / "shared" / "data"))
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def test_a_killed_worker_stops_the_run_clearly_and_one_process_resumes_it(tmp_path):
    out = tmp_path / "run"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
    torchrun += ["--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    # The launcher stops the other workers once one fails: give the survivor time to say why.
    torchrun += ["--master-port", str(_free_port()), "--monitor-interval", "5"]
    launcher = subprocess.Popen(
        [*torchrun, "-m", "pyrogen", *TRAIN, "--out", str(out)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / "checkpoint.pt").exists():  # training, and checkpointing
            assert launcher.poll() is None and time.monotonic() < deadline, launcher.stderr
            time.sleep(0.05)
        workers = _children(launcher.pid)
        assert len(workers) == 2
        os.kill(max(workers), signal.SIGKILL)  # the worker started last: rank 1, mostly
        _, err = launcher.communicate(timeout=TIMEOUT)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode != 0
    said = [line for line in err.splitlines() if line.startswith("error: rank ")]
    assert len(said) == 1, err  # the survivor, once
    assert "of 2 stopped after step" in said[0] and "another process of the run died" in said[0]
    assert str(out / "checkpoint.pt") in said[0]
    kept = load_checkpoint(out / "checkpoint.pt")["steps"]
    assert 0 < kept < STEPS

    one = [sys.executable, "-m", "pyrogen", *TRAIN, "--out", str(out)]
    done = subprocess.run(one, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    state = load_checkpoint(out / "checkpoint.pt")
    assert (state["epoch"], state["steps"]) == (EPOCHS, STEPS)
    assert (out / "metrics.csv").read_text().count("\n") == EPOCHS + 1
