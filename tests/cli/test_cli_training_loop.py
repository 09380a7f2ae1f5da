"""`pyrogen train` with the training-loop flags: TensorBoard, --quiet, options on resume."""

import json

import pytest
import torch

from pyrogen.cli import main
from pyrogen.infer import load_checkpoint

BASE = ["train", "vae", "--z-dim", "4", "--hidden", "32", "--device", "cpu"]
LOOP = ["--clip-grad-norm", "10", "--accumulate", "2", "--lr-schedule", "cosine"]


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "vae"
    argv = [*BASE, "--epochs", "2", "--out", str(out), *LOOP, "--ema-decay", "0.9"]
    assert main([*argv, "--tensorboard", "--quiet"]) == 0
    return out


def test_tensorboard_event_file_holds_the_epoch_scalars(tb_run):
    # tensorboard is in the [test] extra: a missing package fails here, not skips.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_run / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"epoch/train_loss", "epoch/test_loss", "epoch/train_grad_norm"} <= tags
    events = acc.Scalars("epoch/test_loss")
    assert [e.step for e in events] == [1, 2]
    metrics = (tb_run / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    last = dict(zip(header, metrics[-1].split(",")))
    assert events[-1].value == pytest.approx(float(last["test_loss"]), rel=1e-6)


def test_options_are_stored_and_reach_the_checkpoint(tb_run):
    config = json.loads((tb_run / "config.json").read_text())
    assert config["clip_grad_norm"] == 10.0 and config["accumulate"] == 2
    assert config["lr_schedule"] == "cosine" and config["ema_decay"] == 0.9
    state = load_checkpoint(tb_run / "checkpoint.pt")["stepper"]
    assert {"scheduler", "ema"} <= set(state)
    assert state["scheduler"]["last_epoch"] == 2 and state["scheduler"]["T_max"] == 2


def test_quiet_prints_nothing(tmp_path, capsys):
    assert main([*BASE, "--epochs", "2", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert main([*BASE, "--epochs", "3", "--out", str(tmp_path / "q"), "--allow-changes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 1  # one line, no bar
    assert any(line.startswith("final:") for line in lines)


def test_a_resumed_run_keeps_its_options_and_refuses_others(tmp_path, capsys):
    out = tmp_path / "r"
    argv = [*BASE, "--out", str(out), "--quiet"]
    loop = ["--clip-grad-norm", "10", "--accumulate", "2", "--lr-schedule", "iwae"]
    assert main([*argv, "--epochs", "1", *loop, "--early-stopping", "5"]) == 0
    assert main([*argv, "--epochs", "2", "--allow-changes"]) == 0  # the run's own options
    config = json.loads((out / "config.json").read_text())
    assert config["accumulate"] == 2 and config["early_stopping"] == 5
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 2 and state["stepper"]["scheduler"]["last_epoch"] == 2
    assert (out / "best.pt").exists()
    assert main([*argv, "--epochs", "3", "--accumulate", "4", "--allow-changes"]) == 2
    assert "--accumulate: 2 in the run, 4 now" in capsys.readouterr().err


def test_a_schedule_over_the_epochs_refuses_more_epochs(tmp_path, capsys):
    out = tmp_path / "c"
    argv = [*BASE, "--out", str(out), "--quiet", "--lr-schedule", "cosine"]
    assert main([*argv, "--epochs", "1"]) == 0
    assert main([*argv, "--epochs", "2", "--allow-changes"]) == 2
    assert "cannot stretch to --epochs 2" in capsys.readouterr().err


def test_update_options_are_refused_for_a_model_with_its_own_stepper(tmp_path, capsys):
    argv = ["train", "gan", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "g")]
    assert main([*argv, "--ema-decay", "0.9"]) == 2
    assert "--ema-decay" in capsys.readouterr().err


def test_eval_uses_the_averaged_weights(tb_run):
    from pyrogen.cli.runs import load_run

    _, stepper = load_run(tb_run, "cpu")
    for p, avg in zip(stepper.params, stepper.ema.shadow):
        assert torch.equal(p, avg)
