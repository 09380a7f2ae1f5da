"""fit with the trainer's update options, early stopping, callbacks and progress output."""

import pytest
import torch
from torch import nn

from pyrogen.infer import SVITrainer, fit, load_checkpoint
from pyrogen.infer.schedules import cosine_schedule
from pyrogen.models import VAE


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(4, 1, 8, 8, generator=g).bernoulli(generator=g)
    return protos[torch.randint(4, (n,), generator=g)]


def _trainer(seed=0, **options):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=3, hidden=(16,)), lr=1e-2, **options)


OPTIONS = dict(clip_grad_norm=5.0, accumulate=2, scheduler=cosine_schedule(4), ema_decay=0.9)


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_resume_with_schedule_ema_clipping_and_accumulation_is_exact(tmp_path):
    x, x_test = _data(), _data(40, seed=1)
    kw = dict(batch_size=20, test_data=x_test, progress=False, seed=3)  # 5 batches: a partial
    straight = _trainer(**OPTIONS)  # window at every epoch's end
    full = fit(straight, x, epochs=4, out=tmp_path / "a", **kw)

    first = _trainer(**OPTIONS)
    fit(first, x, epochs=2, out=tmp_path / "b", **kw)
    resumed = _trainer(seed=99, **OPTIONS)
    history = fit(resumed, x, epochs=4, out=tmp_path / "b", **kw)

    assert _without_seconds(history) == _without_seconds(full)
    assert "train_grad_norm" in full[0]
    for a, b in zip(straight.module.state_dict().values(), resumed.module.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.ema.shadow, resumed.ema.shadow):
        assert torch.equal(a, b)
    assert straight.scheduler.state_dict() == resumed.scheduler.state_dict()
    assert straight.optim.param_groups[0]["lr"] == resumed.optim.param_groups[0]["lr"]
    assert straight.scheduler.last_epoch == 4  # the epoch hook stepped it
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["stepper"]
    assert {"scheduler", "ema"} <= set(state)


class Scripted:
    """A stepper whose test loss follows a given curve, one value per epoch; its one
    parameter holds the number of epochs trained."""

    def __init__(self, curve):
        self.module = nn.Linear(1, 1, bias=False)
        nn.init.zeros_(self.module.weight)
        self.curve = curve

    def step(self, x):
        return {"loss": torch.tensor(0.0)}

    def end_epoch(self, epoch, metrics):
        with torch.no_grad():
            self.module.weight.fill_(epoch)

    def evaluate(self, x):
        epoch = int(self.module.weight.item())
        return {"loss": torch.tensor(self.curve[epoch - 1])}

    def state_dict(self):
        return {"module": self.module.state_dict()}

    def load_state_dict(self, state):
        self.module.load_state_dict(state["module"])


CURVE = [5.0, 4.0, 3.0, 3.5, 3.0, 2.0, 1.0, 0.5]


def test_early_stopping_stops_after_patience_and_keeps_the_best(tmp_path, capsys):
    x = torch.zeros(4, 1)
    history = fit(
        Scripted(CURVE), x, epochs=8, test_data=x, out=tmp_path, early_stopping=2, batch_size=2
    )
    # best 3.0 at epoch 3; epochs 4 (3.5) and 5 (3.0, not lower) do not improve
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == 3
    assert best["stepper"]["module"]["weight"].item() == 3.0
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 5
    assert "early stopping after epoch 5" in capsys.readouterr().out
    # A resumed run that had stopped stops again at once.
    again = fit(Scripted(CURVE), x, epochs=8, test_data=x, out=tmp_path, early_stopping=2)
    assert len(again) == 5
    # With more patience it would have gone on to improve.
    longer = fit(Scripted(CURVE), x, epochs=8, test_data=x, early_stopping=3, progress=False)
    assert len(longer) == 8


def test_early_stopping_needs_test_data():
    with pytest.raises(ValueError, match="test_data"):
        fit(Scripted(CURVE), torch.zeros(4, 1), epochs=2, early_stopping=2, progress=False)


def test_non_terminal_progress_is_one_line_per_epoch(capsys):
    fit(_trainer(), _data(), epochs=3, batch_size=16, device="cpu")
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("epoch")] == [
        "epoch 1/3",
        "epoch 2/3",
        "epoch 3/3",
    ]
    assert lines[0].startswith("objective path:")
    assert len(lines) == 4
    assert "\r" not in out.out + out.err


def test_progress_false_prints_nothing_and_logs_stay_available(capsys, caplog):
    with caplog.at_level("INFO", logger="pyrogen"):
        fit(_trainer(), _data(), epochs=2, batch_size=16, device="cpu", progress=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert sum(r.getMessage().startswith("epoch ") for r in caplog.records) == 2


class Recorder:
    def __init__(self):
        self.steps, self.epochs, self.ended = [], [], 0

    def on_step(self, step, metrics):
        assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in metrics.values())
        self.steps.append(step)

    def on_epoch(self, epoch, metrics):
        self.epochs.append((epoch, dict(metrics)))

    def on_end(self, history):
        self.ended += 1


def test_callbacks_see_every_step_and_epoch_and_resume_continues_the_count(tmp_path):
    x = _data(64)
    rec, old = Recorder(), []
    fit(_trainer(), x, epochs=2, batch_size=16, out=tmp_path, progress=False, callbacks=[rec])
    assert rec.steps == list(range(1, 9)) and rec.ended == 1
    rec2 = Recorder()
    history = fit(
        _trainer(),
        x,
        epochs=3,
        batch_size=16,
        out=tmp_path,
        progress=False,
        callbacks=[rec2],
        callback=lambda epoch, row: old.append(epoch),
    )
    assert rec2.steps == [9, 10, 11, 12]
    assert rec2.epochs == [(3, history[-1])] and old == [3]
    assert len((tmp_path / "metrics.csv").read_text().strip().splitlines()) == 4
