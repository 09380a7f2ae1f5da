"""``torchrun -m pyrogen train`` with 2 CPU processes (gloo) equals one process on the same
global batches: the same metrics and the same parameters in the checkpoint.

Each run is a real ``torchrun`` launch of the command line (``python -m pyrogen``), as a user
types it; the machine may have 2 busy cores, hence single-threaded ranks and long timeouts.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TIMEOUT = 600
TRAIN = [
    "train",
    "vae",
    "--dataset",
    "digits",
    "--hidden",
    "16",
    "--z-dim",
    "4",
    "--batch-size",
    "100",  # even: shards of 50 per rank
    "--device",
    "cpu",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYROGEN_TEST_THREADS="1")
    env.setdefault("PYROGEN_DATA", str(Path(__file__).parents[3] / "shared" / "data"))
    return env


def _run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def one_process(out: Path, epochs: int, *extra: str) -> str:
    train = [*TRAIN, "--epochs", str(epochs), "--out", str(out), *extra]
    return _run([sys.executable, "-m", "pyrogen", *train])


def two_processes(out: Path, epochs: int, *extra: str) -> str:
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    launch = ["--nnodes", "1", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    launch += ["--master-port", str(_free_port())]
    train = [*TRAIN, "--epochs", str(epochs), "--out", str(out), *extra]
    return _run([*torchrun, *launch, "-m", "pyrogen", *train])


def _metrics(run: Path) -> list[dict[str, float]]:
    with open(run / "metrics.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _params(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    return state["stepper"]["module"]


def _assert_same_run(a: Path, b: Path) -> None:
    ma, mb = _metrics(a), _metrics(b)
    assert [r["epoch"] for r in ma] == [r["epoch"] for r in mb]
    for ra, rb in zip(ma, mb):
        for key in ("train_loss", "train_elbo", "test_loss", "test_elbo"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-5), (ra["epoch"], key)
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        torch.testing.assert_close(pb[k], pa[k], rtol=1e-5, atol=1e-5, msg=k)


def test_torchrun_two_processes_continue_a_run_as_one_process_does(tmp_path):
    """From the same checkpoint (weights, Adam state, random state), one more epoch with
    torchrun on 2 ranks equals one more epoch in one process, to float tolerance."""
    base = tmp_path / "base"
    one_process(base, epochs=1)
    shutil.copytree(base, tmp_path / "one")
    shutil.copytree(base, tmp_path / "two")
    # a longer run than the checkpoint's: a change a resumed run must be allowed
    one_process(tmp_path / "one", 2, "--allow-changes")
    printed = two_processes(tmp_path / "two", 2, "--allow-changes")
    assert printed.count("final:") == 1  # rank 0 alone reports
    assert len(_metrics(tmp_path / "two")) == 2
    _assert_same_run(tmp_path / "one", tmp_path / "two")


def test_torchrun_fresh_run_equals_one_process(tmp_path):
    one_process(tmp_path / "one", epochs=1)
    two_processes(tmp_path / "two", epochs=1)
    _assert_same_run(tmp_path / "one", tmp_path / "two")
