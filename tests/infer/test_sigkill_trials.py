"""SIGKILL at random moments, while training and while a checkpoint is written: the run
directory always resumes, loses at most the steps since the last checkpoint that was
complete when the process died, and ends equal, bit for bit, to a run never killed.

Each trial trains one run directory in a child process, kills it with SIGKILL after a random
delay, checks the checkpoint left behind, starts it again (a resumed run, killed in turn,
perhaps while it loads or skips to its place), and at last lets it finish. Checkpoints are
written within epochs every few tens of milliseconds and each write is slowed down, so a
good share of the kills lands in the middle of one. The children fork from a server that
has imported torch and pyrogen once (``fork_server``), so a child starts in milliseconds.

The default run makes :data:`QUICK` kills; ``pytest -m slow`` runs the sweep of
:data:`SWEEP` kills and prints the count and the worst loss of work observed.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass

import pyro
import pytest
import torch
from fork_server import forkserver_context

from pyrogen.infer import SVITrainer, fit, load_checkpoint
from pyrogen.models import VAE

EPOCHS, N, BATCH = 2, 96, 12  # 8 steps per epoch, 16 in all
STEPS = EPOCHS * N // BATCH
STEP_SECONDS = 0.02  # each step waits this long, as a larger model's step would take
PERIOD_MINUTES = 0.05 / 60  # a checkpoint within an epoch every 50 ms: after 2 or 3 steps
WRITE_DELAY = 0.003  # seconds of waiting added to every 40 write calls of a checkpoint
QUICK = (3, 4)  # trials, kills per trial
SWEEP = (40, 6)
DONE, SAVED, WRITING = 0, 1, 2  # slots of the progress a child shares with the test


def _bits():
    g = torch.Generator().manual_seed(0)
    return torch.rand(N, 1, 8, 8, generator=g).bernoulli(generator=g)


def _trainer(seed=0):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=2, hidden=(8,)), lr=1e-2)


def _fit(trainer, out, callbacks=()):
    return fit(
        trainer,
        _bits(),
        epochs=EPOCHS,
        batch_size=BATCH,
        out=out,
        progress=False,
        seed=4,
        device="cpu",
        checkpoint_minutes=PERIOD_MINUTES,
        callbacks=callbacks,
    )


class _Slow:
    """A file whose writes wait :data:`WRITE_DELAY` every 40 calls (torch writes a small
    checkpoint in about 250 calls): a checkpoint takes long enough to be killed in."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def write(self, data):
        self.calls += 1
        if self.calls % 40 == 0:
            time.sleep(WRITE_DELAY)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


class _Report:
    """Makes each step last :data:`STEP_SECONDS` and shares the steps done."""

    def __init__(self, progress):
        self.progress = progress

    def on_step(self, step, metrics):
        time.sleep(STEP_SECONDS)
        self.progress[DONE] = step


def _child(out, progress):
    """Trains (resuming) the run in ``out``; shares the last step done, the steps in the
    last checkpoint known complete, and whether one is being written."""
    from pyrogen.infer import checkpoint as ckpt_module
    from pyrogen.infer import run_checkpoints

    torch.set_num_threads(1)
    pyro.settings.set(module_local_params=True)
    real_write, real_save = ckpt_module.atomic_write, run_checkpoints.save_checkpoint

    def slow_write(path, write):
        real_write(path, lambda f: write(_Slow(f)))

    def save(path, state):
        progress[WRITING] = 1
        real_save(path, state)
        progress[SAVED] = state["steps"]  # the rename is done: this checkpoint is complete
        progress[WRITING] = 0

    ckpt_module.atomic_write = slow_write
    run_checkpoints.save_checkpoint = save
    _fit(_trainer(), out, callbacks=[_Report(progress)])


@dataclass
class Kill:
    done: int  # steps done by the run's processes when it was killed
    kept: int  # steps in the checkpoint it left
    during_write: bool
    before_a_step: bool  # the process was starting (or resuming): it had done no step

    @property
    def lost(self) -> int:
        return self.done - self.kept


@pytest.fixture(scope="module")
def forkserver():
    return forkserver_context(__name__)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, forkserver):
    """The uninterrupted run's weights, and how long a child takes to train it."""
    out = tmp_path_factory.mktemp("reference")
    progress = forkserver.Array("q", [-1, -1, 0], lock=False)
    start = time.monotonic()
    child = forkserver.Process(target=_child, args=(str(out), progress))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    seconds = time.monotonic() - start
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["steps"] == STEPS and progress[SAVED] == STEPS
    return state["stepper"]["module"], seconds


def _kill_and_resume(ctx, out, rng, kills, lifetime):
    """Kills the run in ``out`` ``kills`` times at random moments, checking each time the
    checkpoint it left; returns the kills (fewer if a child finished first)."""
    record, high = [], 0  # high: steps done since the checkpoint the child resumed from
    for _ in range(kills):
        progress = ctx.Array("q", [-1, -1, 0], lock=False)
        child = ctx.Process(target=_child, args=(str(out), progress))
        child.start()
        left = (STEPS - high) / STEPS  # of the work: a resumed child has less to do
        child.join(rng.uniform(0.0, lifetime * (0.3 + 0.7 * left)))
        if not child.is_alive():  # it finished first
            assert child.exitcode == 0
            break
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        done = max(high, progress[DONE])
        path = out / "checkpoint.pt"
        kept = load_checkpoint(path)["steps"] if path.exists() else 0  # never corrupt
        # Never older than the last checkpoint known complete, never ahead of the work.
        assert progress[SAVED] <= kept <= done, (progress[:], kept)
        record.append(Kill(done, kept, bool(progress[WRITING]), progress[DONE] < 0))
        high = kept
    return record


def _trials(ctx, reference, tmp_path, trials, kills, first=0):
    weights, lifetime = reference
    record = []
    for trial in range(first, first + trials):
        out = tmp_path / f"run{trial}"
        record += _kill_and_resume(ctx, out, random.Random(trial), kills, lifetime)
        resumed = _trainer(seed=100 + trial)  # other initial weights: all must be restored
        _fit(resumed, out)
        got = resumed.module.state_dict()
        assert all(torch.equal(got[k], weights[k]) for k in weights), f"trial {trial}"
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    return record


def _summary(record):
    worst = max(record, key=lambda k: k.lost)
    writes = sum(k.during_write for k in record)
    starting = sum(k.before_a_step for k in record)
    return (
        f"{len(record)} SIGKILLs ({writes} during a checkpoint write, {starting} before the "
        f"process's first step): every run resumed and ended equal to the uninterrupted run; "
        f"worst loss of work {worst.lost} step(s) of {STEPS} (killed after step {worst.done}, "
        f"resumed from step {worst.kept}); mean {sum(k.lost for k in record) / len(record):.2f}"
    )


def test_sigkill_at_random_moments_never_costs_more_than_the_last_checkpoint(
    forkserver, reference, tmp_path
):
    # The delays are drawn from the reference run's lifetime; on a machine whose load drops
    # meanwhile, children may finish first: then more trials, until QUICK[0] kills landed.
    record, first = [], 0
    while len(record) < QUICK[0] and first < 4 * QUICK[0]:
        record += _trials(forkserver, reference, tmp_path, QUICK[0], QUICK[1], first)
        first += QUICK[0]
    assert len(record) >= QUICK[0]
    print(_summary(record))


@pytest.mark.slow
def test_sigkill_sweep(forkserver, reference, tmp_path):
    """By hand: ``pytest -m slow -s tests/infer/test_sigkill_trials.py``."""
    record = _trials(forkserver, reference, tmp_path, *SWEEP)
    assert sum(k.during_write for k in record) >= 10
    print(_summary(record))
