"""``pyrogen eval``: seeded, every figure with its standard error, each labelled for what it is
(an ELBO of particles, an importance-sampled NLL, an exact log p(x), a dequantization bound)."""

import json
import math

import pytest

from pyrogen.cli import main

TINY = ["--epochs", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    argv = {
        "vae": ["--z-dim", "2", "--hidden", "8"],
        "made": ["--hidden", "8"],
        "flow_density": ["--hidden", "8"],
        "glow": ["--hidden", "8"],
        "pixel_vae": ["--z-dim", "2", "--hidden", "8"],
    }
    for model, extra in argv.items():
        assert main(["train", model, *extra, *TINY, "--out", str(root / model)]) == 0
    return root


def _eval(run, capsys, *extra):
    assert main(["eval", str(run), "--num-samples", "20", "--device", "cpu", *extra]) == 0
    printed = capsys.readouterr().out
    return printed, json.loads((run / "eval.json").read_text())


def test_eval_is_seeded(runs, capsys):
    first, a = _eval(runs / "vae", capsys)
    again, b = _eval(runs / "vae", capsys)
    other, c = _eval(runs / "vae", capsys, "--seed", "1")
    assert first == again and a == b
    assert (a["test_elbo"], a["test_nll"]) != (c["test_elbo"], c["test_nll"])


def test_latent_model_figures_carry_standard_errors(runs, capsys):
    printed, result = _eval(runs / "vae", capsys)
    assert "test ELBO :" in printed and "(10 particles)" in printed
    assert f"± {result['test_elbo_se']:.3f} nats per example (10 particles)" in printed
    assert f"± {result['test_nll_se']:.3f} nats per example (20 IS samples)" in printed
    # Batch means of the ELBO and per-example spread of the NLL estimate one thing, the
    # spread of log p(x) over the test examples, up to the ELBO's extra noise.
    assert 0.7 < result["test_elbo_se"] / result["test_nll_se"] < 1.4
    assert result["test_nll_se"] < 0.1 * result["test_nll"]
    assert result["bits_per_dim"] == pytest.approx(result["test_nll"] / (64 * math.log(2)))


def test_exact_density_has_no_elbo_of_particles(runs, capsys):
    printed, result = _eval(runs / "made", capsys)
    assert "test ELBO" not in printed and "test_elbo" not in result
    assert "nats per example (exact: no latent variables)" in printed
    assert result["nll_samples"] == 0 and result["test_nll_se"] > 0
    assert f"bits/dim  : {result['bits_per_dim']:.4f} ± " in printed


def test_dequantized_flow_reports_its_bound_and_bits_per_dim(runs, capsys):
    printed, result = _eval(runs / "flow_density", capsys)
    assert "exact" not in printed and "test ELBO" not in printed
    assert "dequantization bound: one uniform draw per example" in printed
    assert result["bits_per_dim"] == pytest.approx(result["test_nll"] / (64 * math.log(2)))
    assert result["bits_per_dim_se"] == pytest.approx(result["test_nll_se"] / (64 * math.log(2)))


def test_glow_trains_on_the_bound_that_eval_reports(runs, capsys):
    """The training loss of Glow is the dequantization bound in nats, the figure eval reports
    (a loss on the [0, 1) scale of the continuous levels would sit D log 256 = 355 nats
    lower)."""
    printed, result = _eval(runs / "glow", capsys)
    assert "dequantization bound" in printed
    last = (runs / "glow" / "metrics.csv").read_text().splitlines()[-1].split(",")
    header = (runs / "glow" / "metrics.csv").read_text().splitlines()[0].split(",")
    test_loss = float(dict(zip(header, last, strict=True))["test_loss"])
    assert abs(test_loss - result["test_nll"]) < 4 * result["test_nll_se"] + 1.0
    assert result["bits_per_dim"] == pytest.approx(result["test_nll"] / (64 * math.log(2)))


def test_pixel_vae_reports_an_elbo_and_a_tighter_importance_sampled_nll(runs, capsys):
    printed, result = _eval(runs / "pixel_vae", capsys)
    assert "test ELBO :" in printed and "IS samples" in printed
    slack = 3 * (result["test_elbo_se"] + result["test_nll_se"])
    assert result["test_nll"] <= -result["test_elbo"] + slack
