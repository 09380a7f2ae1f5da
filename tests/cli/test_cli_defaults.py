"""The VAEs' command-line defaults are the recipe that reaches the best known result: the
closed-form KL (Pyro's TraceMeanField_ELBO) with --loss elbo, and the decoder's output bias
at the training data's marginal; each can be turned off, and both are recorded."""

import json

import pytest
import torch

from pyrogen.cli import main
from pyrogen.cli.runs import load_run

TINY = ["--epochs", "1", "--device", "cpu", "--quiet", "--z-dim", "2", "--hidden", "8"]


def _run(tmp_path, name, *flags):
    out = tmp_path / name
    assert main(["train", "vae", *TINY, *flags, "--out", str(out)]) == 0
    return json.loads((out / "config.json").read_text()), out


def test_vae_defaults_to_the_closed_form_kl_and_the_marginal_output_bias(tmp_path):
    config, out = _run(tmp_path, "default")
    assert config["analytic_kl"] is True and config["init_output_bias"] is True
    _, stepper = load_run(out, "cpu")
    assert "TraceMeanField_ELBO" in stepper.path_reason


def test_other_objectives_keep_their_estimator(tmp_path):
    config, _ = _run(tmp_path, "iwae", "--loss", "iwae", "--num-particles", "2")
    assert config["analytic_kl"] is False  # the closed form is the ELBO's, not the IWAE bound's


def test_no_fast_runs_pyros_own_closed_form_objective(tmp_path, capsys):
    config, out = _run(tmp_path, "nofast", "--no-fast")
    assert config["analytic_kl"] is True and config["fast"] is False
    _, stepper = load_run(out, "cpu")
    assert stepper.path == "pyro" and type(stepper.objective.elbo).__name__ == (
        "TraceMeanField_ELBO"
    )


def test_each_default_turns_off(tmp_path):
    config, out = _run(tmp_path, "off", "--no-analytic-kl", "--no-init-output-bias")
    assert config["analytic_kl"] is False and config["init_output_bias"] is False
    _, stepper = load_run(out, "cpu")
    assert "TraceMeanField_ELBO" not in stepper.path_reason


@pytest.mark.parametrize("init", [True, False])
def test_the_output_bias_starts_at_the_marginal_only_when_asked(tmp_path, monkeypatch, init):
    from pyrogen.models import VAE

    seen = []
    original = VAE.init_output_bias

    def spy(self, x):
        seen.append(x.mean().item())
        return original(self, x)

    monkeypatch.setattr(VAE, "init_output_bias", spy)
    _run(tmp_path, str(init), "--init-output-bias" if init else "--no-init-output-bias")
    assert len(seen) == (1 if init else 0)


def test_resuming_does_not_reinitialize(tmp_path, monkeypatch):
    from pyrogen.models import VAE

    _, out = _run(tmp_path, "r")
    calls = []
    monkeypatch.setattr(VAE, "init_output_bias", lambda self, x: calls.append(1))
    args = ["train", "vae", "--allow-changes", "--epochs", "2", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert not calls
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2
