import json

import pytest

from pyrogen.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "vae"
    argv = ["train", "vae", "--epochs", "2", "--z-dim", "4", "--hidden", "32", "--out", str(out)]
    assert main(argv + ["--device", "cpu"]) == 0
    return out


def test_train_writes_a_complete_run_directory(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "checkpoint.pt", "metrics.csv"} <= names
    assert {"samples.png", "reconstructions.png", "loss.png"} <= names
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "vae" and config["dataset"] == "digits"
    assert config["x_shape"] == [1, 8, 8]
    assert len((run_dir / "metrics.csv").read_text().strip().splitlines()) == 3


def test_eval_reports_elbo_and_a_tighter_nll(run_dir, capsys):
    assert main(["eval", str(run_dir), "--num-samples", "200", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "test ELBO" in printed and "test NLL" in printed
    result = json.loads((run_dir / "eval.json").read_text())
    assert result["test_examples"] == 297 and result["nll_samples"] == 200  # latents: IS
    assert result["test_nll"] <= -result["test_elbo"]


def test_sample_writes_a_grid(run_dir, tmp_path):
    target = tmp_path / "grid.png"
    assert main(["sample", str(run_dir), "-n", "9", "--out", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_names_models_datasets_losses(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("vae", "digits", "binarized_mnist", "elbo"):
        assert name in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "no_such_model"], "unknown model 'no_such_model'; expected one of: "),
        (["train", "vae", "--dataset", "cifar"], "unknown dataset 'cifar'"),
        (["train", "vae", "--loss", "nope"], "unknown loss 'nope'; expected one of: "),
    ],
)
def test_unknown_names_fail_with_the_valid_ones(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "vae" in err or "digits" in err or "elbo" in err


def test_truncated_checkpoint_is_a_clear_error(run_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((run_dir / "config.json").read_text())
    data = (run_dir / "checkpoint.pt").read_bytes()
    (broken / "checkpoint.pt").write_bytes(data[: len(data) // 3])
    assert main(["eval", str(broken)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_not_a_run_directory(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a pyrogen run directory" in capsys.readouterr().err


def test_resuming_with_another_model_is_refused(run_dir, capsys):
    assert main(["train", "vae", "--z-dim", "7", "--hidden", "32", "--out", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "--z-dim: 4 in the run, 7 now" in err and "cannot change on a resumed run" in err


def test_gan_trains_with_its_own_loss_and_is_evaluated_by_samples(tmp_path, capsys):
    out = tmp_path / "gan"
    argv = ["train", "gan", "--loss", "wgan-gp", "--epochs", "1", "--out", str(out)]
    assert main(argv + ["--device", "cpu"]) == 0
    assert main(["eval", str(out), "--device", "cpu"]) == 0
    result = json.loads((out / "eval.json").read_text())
    assert result["mmd2"] > 0  # one epoch cannot match the data
    assert 0.5 <= result["c2st_accuracy"] <= 1.0
