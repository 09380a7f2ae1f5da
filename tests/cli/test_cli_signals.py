"""The command line on 1-D signals: train a WaveNet teacher, distill a student, sample, eval."""

from __future__ import annotations

import json
import math

import pytest
import torch

from pyrogen.cli import main
from pyrogen.cli.runs import load_run
from pyrogen.data import load

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--dataset", "signals", "--epochs", "1", "--batch-size", "1000", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    teacher, student = root / "teacher", root / "student"
    assert main(["train", "wavenet", "--hidden", "8", "8", "--out", str(teacher), *TINY]) == 0
    argv = ["train", "distill", "--teacher", str(teacher), "--hidden", "8", "8"]
    assert main([*argv, "--out", str(student), *TINY]) == 0
    return teacher, student


def test_runs_hold_config_checkpoint_and_signal_plots(runs):
    teacher, student = runs
    for run in runs:
        assert (run / "checkpoint.pt").is_file()
        assert (run / "samples.png").read_bytes()[:8] == PNG
    assert json.loads((teacher / "config.json").read_text())["x_shape"] == [128]
    config = json.loads((student / "config.json").read_text())
    assert config["teacher"] == str(teacher.resolve())
    # --hidden 8 8: two residual layers of 8 channels, in the teacher and in every flow
    wavenet = load_run(teacher, "cpu")[1].module
    assert len(wavenet.dilated) == 2 and wavenet.input_conv.out_channels == 8
    flow = load_run(student, "cpu")[1].module.student.flows[0]
    assert len(flow.nn.hidden) == 2 and flow.nn.inp.out_channels == 8


def test_teacher_eval_reports_the_exact_nll_per_signal_and_per_step(runs, capsys):
    teacher, _ = runs
    assert main(["eval", str(teacher), "--limit", "200", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "nats per step (T = 128)" in out and "exact: no latent variables" in out
    r = json.loads((teacher / "eval.json").read_text())
    assert r["nll_samples"] == 0  # log p(x) directly, not 5000 identical importance samples
    # No latent variables: the ELBO would be -log p(x) again, so it is not reported.
    assert math.isfinite(r["test_nll"]) and "test_elbo" not in r and "test ELBO" not in out
    assert r["test_nll_per_step"] == pytest.approx(r["test_nll"] / 128)
    _, stepper = load_run(teacher, "cpu")
    x = load("signals", "test").x
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:200]]
    with torch.no_grad():
        direct = -stepper.module.log_prob(x).mean().item()
    assert r["test_nll"] == pytest.approx(direct, rel=1e-4)


def test_student_eval_compares_teacher_scores_and_reports_the_kl(runs, capsys):
    teacher, student = runs
    assert main(["eval", str(student), "--limit", "200", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "teacher log-lik per step" in out and "KL(p_S || p_T)" in out
    r = json.loads((student / "eval.json").read_text())
    assert (
        r["sample_shape"] == [128] == json.loads((teacher / "config.json").read_text())["x_shape"]
    )
    numbers = [v for v in r.values() if isinstance(v, float)]
    assert len(numbers) >= 9 and all(math.isfinite(v) for v in numbers)
    # Against an estimate that shares nothing with the report but the saved runs: fresh draws
    # of the student, log p_S by its change of variables, log p_T by the teacher's log_prob.
    pair = load_run(student, "cpu")[1].module
    n = 4000
    with torch.no_grad():
        x, z, log_scale = pair.student.rsample(n, generator=torch.Generator().manual_seed(1))
        log_p_s = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1) - log_scale.sum(-1)
        log_p_t = pair.teacher.log_prob(x)
    ratio = log_p_s - log_p_t
    # The report averages 256 draws of -log p_T(x) - H(p_S | z) (closed-form entropy).
    report_se = float((-log_p_t + log_scale.sum(-1)).std()) / math.sqrt(r["num_samples"])
    se = math.hypot(float(ratio.std()) / math.sqrt(n), report_se)
    assert abs(r["kl"] - float(ratio.mean())) < 5 * se, (r["kl"], float(ratio.mean()), se)
    assert r["kl"] > 10 * se  # five steps of training cannot match the teacher
    # The pair's frozen teacher is the teacher run's model: it scores the same test subset
    # exactly as the teacher's own eval does.
    assert main(["eval", str(teacher), "--num-samples", "1", "--limit", "200"]) == 0
    nll = json.loads((teacher / "eval.json").read_text())["test_nll_per_step"]
    assert r["teacher_ll_test_per_step"] == pytest.approx(-nll, rel=1e-4)


@pytest.mark.parametrize("which", [0, 1])
def test_sample_writes_line_plots_for_both_runs(runs, tmp_path, which):
    target = tmp_path / "s.png"
    assert main(["sample", str(runs[which]), "-n", "5", "--out", str(target)]) == 0
    assert target.read_bytes()[:8] == PNG
    _, stepper = load_run(runs[which], "cpu")
    assert stepper.module.sample(5).shape == (5, 128)
    with pytest.raises(SystemExit, match="has no mean to plot; omit --mean"):
        main(["sample", str(runs[which]), "--mean", "--out", str(target)])


def test_list_shows_the_signals_and_wavenet(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "signals" in out and "wavenet" in out


def test_a_teacher_that_is_not_a_1d_density_is_refused_before_writing(tmp_path, capsys):
    image_run = tmp_path / "made"
    argv = ["train", "made", "--hidden", "16", "--epochs", "1", "--device", "cpu"]
    assert main([*argv, "--out", str(image_run)]) == 0
    out = tmp_path / "student"
    assert main(["train", "distill", "--teacher", str(image_run), "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert "the teacher must be a 1-D density" in err and "x_shape (1, 8, 8)" in err
    assert not out.exists()
    missing = tmp_path / "nowhere"
    assert main(["train", "distill", "--teacher", str(missing), "--out", str(out), *TINY]) == 2
    assert "cannot load the teacher" in capsys.readouterr().err and not out.exists()


def test_wavenet_on_images_fails_with_the_shape_it_got(tmp_path, capsys):
    argv = ["train", "wavenet", "--epochs", "1", "--out", str(tmp_path / "w")]
    assert main(argv) == 2
    assert "wavenet models 1-D signals" in capsys.readouterr().err
    out = tmp_path / "w2"
    assert main(["train", "wavenet", "--hidden", "8", "16", "--out", str(out), *TINY]) == 2
    assert "one channel count" in capsys.readouterr().err and not out.exists()


def test_sample_plots_take_images_or_signals_only(tmp_path):
    from pyrogen import plots

    assert plots.save_samples(torch.zeros(20, 16), tmp_path / "a.png").read_bytes()[:8] == PNG
    assert plots.save_samples(torch.zeros(2, 1, 4, 4), tmp_path / "b.png").is_file()
    with pytest.raises(ValueError, match=r"images \(N, C, H, W\) or signals \(N, T\), got \(3,\)"):
        plots.save_samples(torch.zeros(3), tmp_path / "c.png")
