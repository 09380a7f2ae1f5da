"""AutoencoderTrainer under fit: a Stepper with checkpoints, exact resumption and metrics."""

from __future__ import annotations

import pytest
import torch

from pyrogen.infer import AutoencoderTrainer, Stepper, fit, load_checkpoint
from pyrogen.models import VAE, ContractiveAutoencoder, DenoisingAutoencoder


def _data(n: int = 96) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 4, 4, generator=g)


def _dae(seed: int = 0) -> AutoencoderTrainer:
    torch.manual_seed(seed)
    dae = DenoisingAutoencoder((1, 4, 4), 6, loss="bce", noise="masking", noise_level=0.3)
    return AutoencoderTrainer(dae, lr=1e-2)


def test_is_a_stepper_and_refuses_model_guide_pairs():
    assert isinstance(_dae(), Stepper)
    with pytest.raises(TypeError, match="needs an Autoencoder"):
        AutoencoderTrainer(VAE((1, 4, 4), z_dim=2))


def test_resume_is_exact_with_random_corruption(tmp_path):
    """2 epochs, then 2 more from the checkpoint, equal 4 straight: the corruption draws come
    from the random state the checkpoint restores."""
    x = _data()
    straight = _dae()
    fit(straight, x, epochs=4, batch_size=32, out=tmp_path / "a", progress=False, seed=3)
    first = _dae()
    fit(first, x, epochs=2, batch_size=32, out=tmp_path / "b", progress=False, seed=3)
    resumed = _dae(seed=99)
    history = fit(resumed, x, epochs=4, batch_size=32, out=tmp_path / "b", progress=False, seed=3)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    a, b = straight.module.state_dict(), resumed.module.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    saved = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert "module" in saved["stepper"] and "optim" in saved["stepper"]


def test_fit_lowers_the_loss_and_reports_every_term():
    x = _data(200)
    torch.manual_seed(0)
    trainer = AutoencoderTrainer(ContractiveAutoencoder((1, 4, 4), 8, weight=0.1), lr=1e-2)
    history = fit(trainer, x, epochs=15, batch_size=50, test_data=x[:50], progress=False)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    for key in ("loss", "recon", "contractive"):
        assert f"train_{key}" in history[-1] and f"test_{key}" in history[-1]
    last = history[-1]
    assert last["test_loss"] == pytest.approx(last["test_recon"] + 0.1 * last["test_contractive"])


def test_bad_data_fails_before_any_step():
    trainer = _dae()
    before = {k: v.clone() for k, v in trainer.module.state_dict().items()}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit(trainer, _data() * 3, epochs=1, progress=False)
    after = trainer.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
