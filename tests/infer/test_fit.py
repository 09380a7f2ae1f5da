import csv

import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from pyrogen.infer import (
    CheckpointError,
    SVITrainer,
    TrainingDivergedError,
    fit,
    load_checkpoint,
    save_checkpoint,
)
from pyrogen.models import VAE


def _data(n=120, seed=0):
    """Binary images: one of four random prototypes with 5% of the pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(4, 1, 8, 8, generator=g).bernoulli(generator=g)
    x = protos[torch.randint(4, (n,), generator=g)]
    flip = torch.rand(x.shape, generator=g) < 0.05
    return torch.where(flip, 1 - x, x)


def _trainer(seed=0):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=3, hidden=(16,)), lr=1e-2)


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_resume_is_exact(tmp_path):
    """2 epochs, then resume for 2 more, equals 4 epochs straight (same seed, CPU)."""
    x = _data()
    straight = _trainer()
    fit(straight, x, epochs=4, batch_size=32, out=tmp_path / "a", progress=False, seed=3)

    first = _trainer()
    fit(first, x, epochs=2, batch_size=32, out=tmp_path / "b", progress=False, seed=3)
    resumed = _trainer(seed=99)  # a fresh process would start from other weights
    history = fit(resumed, x, epochs=4, batch_size=32, out=tmp_path / "b", progress=False, seed=3)

    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    a, b = _params(straight.module), _params(resumed.module)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with open(tmp_path / "b" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]


def test_training_lowers_the_loss_and_logs_test_metrics(tmp_path):
    x = _data(200)
    history = fit(_trainer(), x, epochs=15, batch_size=50, test_data=x[:50], progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 1.0
    assert history[-1]["train_elbo"] == pytest.approx(-history[-1]["train_loss"])
    assert "test_loss" in history[-1]


class _PoisonedTrainer(SVITrainer):
    """Corrupts a weight with NaN before its ``at``-th step, as a diverging run would."""

    def __init__(self, module, at):
        super().__init__(module, lr=1e-2)
        self.calls, self.at = 0, at

    def step(self, x):
        self.calls += 1
        if self.calls == self.at:
            with torch.no_grad():
                self.module.loc_head.weight.fill_(float("nan"))
        return super().step(x)


# Pyro's Trace_ELBO warns about the NaN loss before fit's own check raises.
@pytest.mark.filterwarnings("ignore:Encountered NaN")
def test_nan_stops_with_clear_message_and_keeps_last_checkpoint(tmp_path):
    x = _data()  # 120 examples, batch 32: 4 steps per epoch
    trainer = _PoisonedTrainer(VAE((1, 8, 8), z_dim=3, hidden=(16,)), at=6)
    with pytest.raises(TrainingDivergedError, match=r"epoch 2.*NaN or infinite.*epoch \(1\)"):
        fit(trainer, x, epochs=3, batch_size=32, out=tmp_path, progress=False)
    kept = load_checkpoint(tmp_path / "checkpoint.pt")
    assert kept["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in kept["stepper"]["module"].values())


def test_bad_data_fails_before_any_step():
    trainer = _trainer()
    before = _params(trainer.module)
    x = _data()
    x[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        fit(trainer, x, epochs=1, progress=False)
    with pytest.raises(ValueError, match="binary"):
        fit(trainer, torch.rand(10, 1, 8, 8), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 8, 8\)"):
        fit(trainer, torch.zeros(10, 64), epochs=1, progress=False)
    after = _params(trainer.module)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_truncated_checkpoint_is_reported(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1, "x": torch.zeros(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)
    torch.save({"something": 1}, path)
    with pytest.raises(CheckpointError, match="not a pyrogen checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a pyrogen checkpoint"):
        fit(_trainer(), _data(), epochs=1, out=tmp_path, progress=False)


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1})

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_fit_drives_plain_pyro_svi(tmp_path):
    with pyro.settings.context(module_local_params=False):
        vae = VAE((1, 8, 8), z_dim=2, hidden=(8,))

        def model(x):
            pyro.module("vae", vae)
            return vae.model(x)

        def guide(x):
            pyro.module("vae", vae)
            return vae.guide(x)

        svi = SVI(model, guide, Adam({"lr": 1e-2}), Trace_ELBO())
        history = fit(svi, _data(), epochs=3, batch_size=40, out=tmp_path, progress=False)
    assert len(history) == 3
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert "params" in load_checkpoint(tmp_path / "checkpoint.pt")["stepper"]


def test_fit_rejects_non_steppers():
    with pytest.raises(TypeError, match="SVITrainer"):
        fit(object(), _data(), epochs=1)


class _OneNaNStep(SVITrainer):
    """Reports a NaN loss on one step but leaves the parameters finite, so only the
    epoch's mean loss reveals it (the periodic check does not look at that step)."""

    def __init__(self, module):
        super().__init__(module, lr=1e-2)
        self.calls = 0

    def step(self, x):
        self.calls += 1
        out = super().step(x)
        if self.calls == 2:
            out["loss"] = torch.tensor(float("nan"))
        return out


def test_nan_between_periodic_checks_is_caught_at_epoch_end():
    trainer = _OneNaNStep(VAE((1, 8, 8), z_dim=3, hidden=(16,)))
    with pytest.raises(TrainingDivergedError, match="epoch 1: the loss is NaN"):
        fit(trainer, _data(), epochs=2, batch_size=32, progress=False, check_every=100)
