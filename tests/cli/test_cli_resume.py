"""Resuming a run directory: unset options are the run's, a changed one is refused unless
``--allow-changes`` (and always where the checkpoint fixes it), and the run says where it
resumes from."""

import json

import pytest

from pyrogen.cli import main
from pyrogen.infer import load_checkpoint

BASE = ["train", "vae", "--z-dim", "2", "--hidden", "8", "--device", "cpu"]


@pytest.fixture
def run(tmp_path):
    out = tmp_path / "r"
    assert main([*BASE, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out


def _config(out):
    return json.loads((out / "config.json").read_text())


def test_a_changed_learning_rate_is_refused_and_the_config_kept(run, capsys):
    before = (run / "config.json").read_text()
    for extra in ([], ["--allow-changes"]):  # the optimizer state in the checkpoint holds it
        assert main(["train", "vae", "--lr", "0.1", "--out", str(run), *extra]) == 2
        err = capsys.readouterr().err
        assert "--lr: 0.001 in the run, 0.1 now" in err and "cannot change" in err
    assert (run / "config.json").read_text() == before


def test_more_epochs_need_allow_changes_and_say_where_they_resume(run, capsys):
    assert main(["train", "vae", "--epochs", "2", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--epochs: 1 in the run, 2 now" in err and "--allow-changes" in err
    assert _config(run)["epochs"] == 1
    assert main(["train", "vae", "--epochs", "2", "--out", str(run), "--allow-changes"]) == 0
    assert "resuming from epoch 1 (of 2)" in capsys.readouterr().out
    assert _config(run)["epochs"] == 2 and load_checkpoint(run / "checkpoint.pt")["epoch"] == 2


def test_fewer_epochs_than_done_are_refused(run, capsys):
    argv = ["train", "vae", "--epochs", "0", "--out", str(run), "--allow-changes"]
    assert main(argv) == 2
    assert "has trained 1 epochs" in capsys.readouterr().err
    assert _config(run)["epochs"] == 1


def test_a_resume_without_options_takes_the_run_s_own(run, capsys):
    assert main(["train", "vae", "--out", str(run)]) == 0  # no --z-dim 2 --hidden 8 --epochs 1
    out = capsys.readouterr().out
    assert "resuming from epoch 1 (of 1)" in out
    config = _config(run)
    assert config["z_dim"] == 2 and config["hidden"] == [8] and config["epochs"] == 1
