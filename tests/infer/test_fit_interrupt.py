"""Ctrl-C during fit: the step that runs finishes, its checkpoint is written, and a clean
``TrainingInterrupted`` says where training stopped and how to resume; the resumed run
equals one that was never interrupted. A second Ctrl-C quits at once."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from pyrogen.infer import SVITrainer, fit, interrupt, load_checkpoint
from pyrogen.infer.interrupt import TrainingInterrupted
from pyrogen.models import VAE

N, BATCH = 100, 16  # 7 batches per epoch


def _bits():
    g = torch.Generator().manual_seed(0)
    return torch.rand(N, 1, 8, 8, generator=g).bernoulli(generator=g)


def _trainer(seed=0, **options):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=2, hidden=(8,)), lr=1e-2, **options)


class CtrlC:
    """Presses Ctrl-C (sends SIGINT to this process) ``times`` times during step ``step``,
    or at the end of epoch ``epoch``."""

    def __init__(self, step=None, epoch=None, times=1):
        self.step, self.epoch, self.times = step, epoch, times

    def _press(self):
        for _ in range(self.times):
            os.kill(os.getpid(), signal.SIGINT)

    def on_step(self, step, metrics):
        if step == self.step:
            self._press()

    def on_epoch(self, epoch, metrics):
        if epoch == self.epoch:
            self._press()


def _fit(trainer, out, **kw):
    kw = {"checkpoint_minutes": None, **kw}  # epoch ends only, unless Ctrl-C
    return fit(trainer, _bits(), epochs=3, batch_size=BATCH, out=out, progress=False, seed=2, **kw)


def _same(a, b):
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_ctrl_c_saves_the_last_finished_step_and_the_run_resumes_exactly(tmp_path):
    straight = _trainer()
    full = _fit(straight, tmp_path / "straight")
    with pytest.raises(TrainingInterrupted) as info:
        _fit(_trainer(), tmp_path / "run", callbacks=[CtrlC(step=10)])
    message = str(info.value)
    assert "training interrupted at epoch 2, after 3 of its batches (step 10 of the run)" in message
    assert f"its checkpoint is {tmp_path / 'run' / 'checkpoint.pt'}" in message
    assert "call fit again with the same out= to resume" in message
    assert isinstance(info.value, KeyboardInterrupt)  # code that stops on Ctrl-C still does
    assert (info.value.epoch, info.value.step) == (1, 10)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["steps"] == 10 and state["within_epoch"]["batches"] == 3
    resumed = _trainer(seed=7)
    history = _fit(resumed, tmp_path / "run")
    assert _same(straight, resumed)
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in full]


def test_ctrl_c_in_an_accumulation_window_stops_after_its_update(tmp_path):
    with pytest.raises(TrainingInterrupted, match=r"after 5 of its batches \(step 12"):
        _fit(_trainer(accumulate=5), tmp_path, callbacks=[CtrlC(step=9)])  # window 8..12
    assert load_checkpoint(tmp_path / "checkpoint.pt")["steps"] == 12


def test_ctrl_c_at_an_epochs_end_stops_after_its_checkpoint(tmp_path):
    with pytest.raises(TrainingInterrupted, match=r"at the end of epoch 1 \(step 7 of the run\)"):
        _fit(_trainer(), tmp_path, callbacks=[CtrlC(epoch=1)])
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1 and "within_epoch" not in state


def test_ctrl_c_without_a_run_directory_says_nothing_was_saved():
    with pytest.raises(TrainingInterrupted, match="nothing was saved.*pass out=DIR"):
        _fit(_trainer(), None, callbacks=[CtrlC(step=2)])


def test_one_key_press_delivered_twice_is_one_request(tmp_path):
    """A launcher that forwards the signal (torchrun) makes the same Ctrl-C arrive twice."""
    with pytest.raises(TrainingInterrupted):
        _fit(_trainer(), tmp_path, callbacks=[CtrlC(step=4, times=2)])
    assert load_checkpoint(tmp_path / "checkpoint.pt")["steps"] == 4


def test_a_second_ctrl_c_quits_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(interrupt, "SAME_REQUEST_SECONDS", 0.0)
    with pytest.raises(KeyboardInterrupt) as info:
        _fit(_trainer(), tmp_path, callbacks=[CtrlC(step=4, times=2)])
    assert type(info.value) is KeyboardInterrupt  # no checkpoint of step 4: it quit at once
    assert not (tmp_path / "checkpoint.pt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
