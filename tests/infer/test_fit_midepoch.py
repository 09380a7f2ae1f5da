"""Checkpoints within an epoch: written on the clock, and a run stopped between two of them
resumes the epoch at the next batch, equal bit for bit to a run that never stopped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from pyrogen.data import load
from pyrogen.data.image_data import ImageData
from pyrogen.infer import CheckpointError, SVITrainer, fit, load_checkpoint
from pyrogen.infer import run_checkpoints as rc
from pyrogen.models import VAE

N, BATCH = 100, 16  # 7 batches per epoch, the last one of 4 rows


class Crash(Exception):
    """Stands for a process that dies after a step, before that step's checkpoint."""


class CrashAt:
    def __init__(self, step):
        self.step = step

    def on_step(self, step, metrics):
        if step == self.step:
            raise Crash


class Rows(Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def _bits():
    g = torch.Generator().manual_seed(0)
    return torch.rand(N, 1, 8, 8, generator=g).bernoulli(generator=g)


def _data(kind):
    """Fresh data of each kind; a DataLoader draws its order from the global generator."""
    if kind == "dynamic_binarization":  # a fresh Bernoulli draw of the images per epoch
        return ImageData(load("digits").x[:N], binarize="dynamic"), BATCH
    if kind == "dataset":
        return Rows(_bits()), BATCH
    if kind == "shuffled_dataloader":
        return DataLoader(Rows(_bits()), batch_size=BATCH, shuffle=True), None
    return _bits(), BATCH


def _trainer(seed=0, **options):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=2, hidden=(8,)), lr=1e-2, **options)


def _run(out, kind, seed=0, options=None, **kw):
    trainer = _trainer(seed, **(options or {}))
    data, batch_size = _data(kind)
    history = fit(
        trainer, data, epochs=3, batch_size=batch_size, out=out, progress=False, seed=5, **kw
    )
    return trainer, history


def _same(a, b):
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize(
    "kind, options, crash, saved",
    [
        ("tensor", None, 10, 9),  # epoch 2, after 2 of its 7 batches
        ("tensor", None, 3, 2),  # within the first epoch
        ("dynamic_binarization", None, 12, 11),
        ("dataset", None, 10, 9),
        ("shuffled_dataloader", None, 13, 12),
        ("tensor", {"accumulate": 3}, 12, 10),  # epoch 2's windows end at steps 10, 13
    ],
)
def test_a_run_stopped_within_an_epoch_resumes_it_exactly(tmp_path, kind, options, crash, saved):
    """The process dies after step ``crash``; its last checkpoint holds step ``saved``, within
    an epoch. A fresh trainer with other initial weights resumes from it and ends equal to
    the uninterrupted run: the same weights and the same metrics, to the last bit."""
    straight, full = _run(tmp_path / "straight", kind, options=options)
    every_step = dict(checkpoint_minutes=1e-9)
    with pytest.raises(Crash):
        _run(tmp_path / "run", kind, options=options, callbacks=[CrashAt(crash)], **every_step)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (
        state["steps"] == saved and state["within_epoch"]["batches"] == saved - 7 * state["epoch"]
    )
    assert 0 < state["within_epoch"]["batches"] < 7
    resumed, history = _run(tmp_path / "run", kind, seed=99, options=options, **every_step)
    assert _same(straight, resumed)
    assert _without_seconds(history) == _without_seconds(full)
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 4  # header, 3 epochs


class FakeClock:
    """``time.monotonic`` of run_checkpoints: ``minutes`` pass with every step."""

    def __init__(self, minutes):
        self.now, self.minutes = 0.0, minutes

    def monotonic(self):
        return self.now

    def on_step(self, step, metrics):
        self.now += 60 * self.minutes


def _saved_steps(monkeypatch, tmp_path, minutes, options=None):
    """The steps of the run at which a checkpoint was written, one step taking 0.4 min."""
    clock, saved = FakeClock(0.4), []
    monkeypatch.setattr(rc, "time", SimpleNamespace(monotonic=clock.monotonic))
    real = rc.save_checkpoint
    monkeypatch.setattr(rc, "save_checkpoint", lambda p, s: (saved.append(s["steps"]), real(p, s)))
    _run(tmp_path, "tensor", options=options, callbacks=[clock], checkpoint_minutes=minutes)
    return saved


def test_checkpoints_follow_the_clock_within_epochs(monkeypatch, tmp_path):
    """Every 1.0 minute at 0.4 minutes a step: after 3 steps, counted from the last
    checkpoint (an epoch's end, 7 steps, restarts the count)."""
    assert _saved_steps(monkeypatch, tmp_path / "a", 1.0) == [3, 6, 7, 10, 13, 14, 17, 20, 21]
    assert _saved_steps(monkeypatch, tmp_path / "b", None) == [7, 14, 21]


def test_an_accumulation_window_defers_the_checkpoint_to_its_update(monkeypatch, tmp_path):
    """With updates every 3 batches the gradients of the window in progress are not in the
    state: a checkpoint due after step 3 waits for the window's update (steps 3, 6, then
    the epoch's end)."""
    saved = _saved_steps(monkeypatch, tmp_path, 0.5, options={"accumulate": 3})
    assert saved == [3, 6, 7, 10, 13, 14, 17, 20, 21]
    saved = _saved_steps(monkeypatch, tmp_path / "b", 1.5, options={"accumulate": 3})
    assert saved == [6, 7, 13, 14, 20, 21]  # due after step 4: deferred to 6


def test_checkpoint_minutes_must_be_positive(tmp_path):
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=f"checkpoint_minutes > 0.*got {bad}"):
            _run(tmp_path, "tensor", checkpoint_minutes=bad)


def test_a_resumed_run_rewrites_metrics_and_removes_a_killed_writers_files(tmp_path):
    """A run killed between its last checkpoint and metrics.csv, or during a write: the next
    run brings metrics.csv up to the checkpoint and removes the half-written files."""
    _run(tmp_path, "tensor")
    (tmp_path / "metrics.csv").unlink()
    debris = [tmp_path / ".checkpoint.pt.x1y2.tmp", tmp_path / ".metrics.csv.abc.tmp"]
    for p in debris:
        p.write_bytes(b"half a file")
    _run(tmp_path, "tensor")  # 3 epochs done: nothing to train
    assert (tmp_path / "metrics.csv").read_text().count("\n") == 4
    assert not any(p.exists() for p in debris)


def test_a_checkpoint_within_an_epoch_refuses_data_too_short_for_it(tmp_path):
    with pytest.raises(Crash):
        _run(tmp_path, "tensor", callbacks=[CrashAt(7 + 6)], checkpoint_minutes=1e-9)
    trainer = _trainer()
    with pytest.raises(CheckpointError, match="after 80 examples of epoch 2.*now hold 40"):
        fit(trainer, _bits()[:40], epochs=3, batch_size=BATCH, out=tmp_path, progress=False)
    loader = DataLoader(Rows(_bits()), batch_size=BATCH)
    with pytest.raises(Crash):
        fit(_trainer(), loader, epochs=3, out=tmp_path / "dl", progress=False,
            callbacks=[CrashAt(7 + 3)], checkpoint_minutes=1e-9)  # fmt: skip
    loader = DataLoader(Rows(_bits()), batch_size=BATCH + 4)  # 20 + 20 + 20 > 32 + 16
    with pytest.raises(ValueError, match="stopped after 32 examples.*batches now end elsewhere"):
        fit(_trainer(), loader, epochs=3, out=tmp_path / "dl", progress=False)


class Rows1D(Dataset):
    """Example ``i`` is the number ``i``: a stepper sees which examples it trains on."""

    def __len__(self):
        return N

    def __getitem__(self, i):
        return torch.tensor([float(i)])


class Recorder:
    """Trains nothing; keeps (in its checkpointed state) the examples of every step."""

    def __init__(self):
        self.module = torch.nn.Linear(1, 1)
        self.seen = []

    def step(self, x):
        self.seen += [int(v) for v in x[:, 0]]
        return {"loss": torch.zeros(())}

    def evaluate(self, x):
        return {"loss": torch.zeros(())}

    def state_dict(self):
        return {"seen": torch.tensor(self.seen, dtype=torch.long)}

    def load_state_dict(self, state):
        self.seen = state["seen"].tolist()


@pytest.mark.parametrize("kind", ["tensor", "dataset"])
def test_an_epoch_resumed_with_another_batch_size_sees_each_example_once(tmp_path, kind):
    """Stopped after 3 batches of 16 in epoch 2, resumed with batches of 32: the epoch goes
    on from its 49th example of the same order, in 2 batches (32 and 20)."""
    data = Rows1D() if kind == "dataset" else torch.arange(N, dtype=torch.float32)[:, None]
    straight = Recorder()
    fit(straight, data, epochs=2, batch_size=16, progress=False, seed=3)
    with pytest.raises(Crash):
        fit(Recorder(), data, epochs=2, batch_size=16, out=tmp_path, progress=False, seed=3,
            callbacks=[CrashAt(7 + 4)], checkpoint_minutes=1e-9)  # fmt: skip
    resumed = Recorder()
    fit(resumed, data, epochs=2, batch_size=32, out=tmp_path, progress=False, seed=3)
    assert resumed.seen == straight.seen  # the same examples in the same order
    assert sorted(resumed.seen[N:]) == list(range(N))
    assert load_checkpoint(tmp_path / "checkpoint.pt")["steps"] == 7 + 3 + 2
