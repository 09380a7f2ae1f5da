"""A process of a 2-process data-parallel run (gloo) dies or hangs: the survivor stops with
a clear ``PeerLostError`` within the process group's timeout, naming the checkpoint to
resume from, and that checkpoint, written within an epoch, resumes on one process and ends
where a one-process run ends."""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import time

import pyro
import pytest
import torch
import torch.distributed as dist
from fork_server import forkserver_context

from pyrogen.infer import PeerLostError, SVITrainer, fit, load_checkpoint
from pyrogen.models import VAE

EPOCHS, BATCH = 3, 25  # 100 examples: 4 global batches per epoch, 12 steps
FAULT_AT = 6  # the step after which a process dies or hangs: epoch 2, batch 2
TIMEOUT = 20  # seconds: the process group's timeout for a collective (generous: a busy machine)


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(100, 1, 8, 8, generator=g).bernoulli(generator=g)


def _trainer(seed=0):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=3, hidden=(16,)), lr=1e-2)


def _fit(trainer, out, **kw):
    return fit(
        trainer,
        _data(),
        epochs=EPOCHS,
        batch_size=BATCH,
        progress=False,
        seed=3,
        device="cpu",
        out=out,
        checkpoint_minutes=1e-9,  # a checkpoint after every step
        **kw,
    )


class Fault:
    """After step :data:`FAULT_AT`, the victim rank notes the time and dies (SIGKILL) or
    hangs (SIGSTOP), as a crashed or frozen worker would."""

    def __init__(self, rank, victim, sig, report):
        self.rank, self.victim, self.sig, self.report = rank, victim, sig, report

    def on_step(self, step, metrics):
        if self.rank == self.victim and step == FAULT_AT:
            with open(self.report, "w") as f:
                json.dump({"at": time.time()}, f)
            os.kill(os.getpid(), self.sig)


def _rank(rank, port, out, victim, sig, results):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=TIMEOUT),
    )
    fault = Fault(rank, victim, sig, f"{results}/fault.json")
    outcome = {"rank": rank}
    try:
        with pyro.settings.context(module_local_params=True):
            _fit(_trainer(seed=rank), out, callbacks=[fault])
        outcome["finished"] = True
    except PeerLostError as e:
        outcome.update(error=str(e), at=time.time())
    with open(f"{results}/rank{rank}.json", "w") as f:
        json.dump(outcome, f)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def forkserver():
    return forkserver_context(__name__)


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    """The one-process run on the same global batches."""
    trainer = _trainer()
    history = _fit(trainer, tmp_path_factory.mktemp("single"))
    return trainer.module.state_dict(), history


@pytest.mark.parametrize(
    "victim, sig",
    [(1, signal.SIGKILL), (0, signal.SIGKILL), (1, signal.SIGSTOP)],
    ids=["worker_killed", "writer_killed", "worker_hangs"],
)
def test_the_survivor_stops_clearly_and_one_process_resumes(
    forkserver, tmp_path, single_process, victim, sig
):
    out, results = tmp_path / "run", tmp_path / "results"
    results.mkdir()
    port = _free_port()
    args = (port, str(out), victim, sig, str(results))
    ranks = [forkserver.Process(target=_rank, args=(r, *args)) for r in (0, 1)]
    for p in ranks:
        p.start()
    survivor = ranks[1 - victim]
    survivor.join(TIMEOUT + 240)  # a busy machine
    try:
        assert survivor.exitcode == 0, "the survivor did not stop by itself"
    finally:
        for p in ranks:
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
            p.join()
    outcome = json.loads((results / f"rank{1 - victim}.json").read_text())
    fault = json.loads((results / "fault.json").read_text())

    # Within the timeout: at once for a dead peer, after the timeout for a hung one.
    waited = outcome["at"] - fault["at"]
    if sig == signal.SIGKILL:
        assert waited < TIMEOUT, waited
    else:
        assert TIMEOUT * 0.9 < waited < TIMEOUT + 60, waited
    message = outcome["error"]
    assert message.startswith(f"rank {1 - victim} of 2 stopped after step")
    assert "another process of the run died, hung longer than the process group's timeout" in (
        message
    )
    assert "resumes from its last checkpoint on any number of processes" in message
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["within_epoch"]["batches"] > 0  # written within epoch 2
    assert state["steps"] in (FAULT_AT - 1, FAULT_AT)
    if victim == 1:
        assert f"The last checkpoint, {out / 'checkpoint.pt'}, holds epoch 2, after" in message
    else:
        assert f"Rank 0 wrote this run's checkpoints to {out / 'checkpoint.pt'}" in message

    params, history = single_process
    resumed = _trainer(seed=9)
    got = _fit(resumed, out)  # one process, no process group
    assert [r["epoch"] for r in got] == [1, 2, 3]
    for k, v in resumed.module.state_dict().items():
        torch.testing.assert_close(v, params[k], rtol=1e-5, atol=1e-5, msg=k)
    assert got[-1]["train_loss"] == pytest.approx(history[-1]["train_loss"], rel=1e-5)
