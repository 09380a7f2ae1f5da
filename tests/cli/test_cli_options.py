"""Every ``pyrogen train`` option x every built-in model, walked cell by cell: a refused
option fails with its name before anything is written; an applied one reaches the trainer
(probed on the trainer the command line builds); docs/cli_options.md is the rendered table."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from pyrogen.cli import main
from pyrogen.cli.options import (
    FAST_PATH_OPTIONS,
    INIT_OPTIONS,
    LOSS_OPTIONS,
    MODEL_OPTIONS,
    RUN_OPTIONS,
    STEPPER_OPTIONS,
    SVI_OPTIONS,
    applied_options,
    flag,
    loss_options,
)
from pyrogen.cli.options_doc import builtin_models, options_in_order, render
from pyrogen.cli.parser import parser, train_config
from pyrogen.cli.registry import get_model
from pyrogen.cli.runs import TrainConfig, build_stepper, model_args, training_data
from pyrogen.infer import fit

ROOT = Path(__file__).resolve().parents[2]
MODELS = [spec.name for spec in builtin_models()]
SIGNALS = ("wavenet", "distill")  # 1-D models, trained on --dataset signals
TABLE_OPTIONS = [dest for dest, _ in options_in_order() if dest not in RUN_OPTIONS]


def _value(option: str, model: str, teacher: Path | None = None) -> list[str]:
    """Arguments giving ``option`` a value unlike the model's default."""
    values = {
        "lr": ["--lr", "0.5"],
        "loss": ["--loss", "hinge" if model == "gan" else "iwae"],
        "num_particles": ["--num-particles", "3"],
        "beta": ["--loss", "beta_elbo", "--beta", "2"],
        "gamma": ["--gamma", "3"],
        "teacher": ["--teacher", str(teacher or "no-such-run")],
        "z_dim": ["--z-dim", "3"],
        "hidden": ["--hidden", "8"],
        "likelihood": ["--likelihood", "gaussian"],
        "binarize": ["--binarize", "threshold"],
        "fast": ["--no-fast"],
        "analytic_kl": ["--analytic-kl"],
        "init_output_bias": ["--no-init-output-bias"],
        "particle_chunk": ["--particle-chunk", "2"],
        "compile": ["--compile"],
        "bf16": ["--bf16"],
        "clip_grad_norm": ["--clip-grad-norm", "5"],
        "accumulate": ["--accumulate", "2"],
        "lr_schedule": ["--lr-schedule", "cosine"],
        "ema_decay": ["--ema-decay", "0.9"],
    }
    return values[option]


def test_every_train_option_is_declared_in_the_table():
    """A new flag of ``pyrogen train`` fails here until pyrogen.cli.options says which
    models apply it (a run option, or an option that models list)."""
    dests = {a.dest for a in _train_parser()._actions if a.option_strings and a.dest != "help"}
    declared = {
        *RUN_OPTIONS,
        *MODEL_OPTIONS,
        *LOSS_OPTIONS,
        *SVI_OPTIONS,
        *FAST_PATH_OPTIONS,
        *STEPPER_OPTIONS,
        *INIT_OPTIONS,
    }
    assert dests == declared
    for model in MODELS:  # no model lists an option that is no flag
        assert applied_options(get_model(model)) <= dests, model


def _train_parser() -> Any:
    import argparse

    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def _refused_cells() -> list[tuple[str, str]]:
    return [
        (model, option)
        for model in MODELS
        for option in TABLE_OPTIONS
        if option not in applied_options(get_model(model))
    ]


@pytest.mark.parametrize("model, option", _refused_cells())
def test_refused_option_fails_before_anything_is_written(model, option, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", model, *_value(option, model), "--out", str(out), "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert flag(option) in err and model in err, err
    assert not out.exists()


def test_loss_options_are_refused_with_a_loss_that_does_not_read_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert "beta" not in loss_options("elbo") and "num_particles" not in loss_options("beta_elbo")
    assert main(["train", "vae", "--beta", "2", "--out", str(out)]) == 2
    assert "--beta is read by --loss beta_elbo" in capsys.readouterr().err
    argv = ["train", "vae", "--loss", "beta_elbo", "--num-particles", "2", "--out", str(out)]
    assert main(argv) == 2
    assert "--num-particles" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--loss", "beta_elbo", "--compile"], "compile=True: option(s) of the built-in models"),
        (["--no-fast", "--particle-chunk", "2"], "disabled"),
    ],
)
def test_fast_path_options_are_refused_where_the_fast_objective_does_not_run(
    argv, message, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(["train", "vae", *argv, "--out", str(out), "--device", "cpu"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_gan_refuses_an_svi_objective(tmp_path, capsys):
    assert main(["train", "gan", "--loss", "elbo", "--out", str(tmp_path / "g")]) == 2
    assert "--loss elbo is an SVI objective" in capsys.readouterr().err


# -- applied cells: the value reaches the trainer ------------------------------------------


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A WaveNet run directory (one epoch on four signals) for the distill cells."""
    out = tmp_path_factory.mktemp("teacher")
    cfg = TrainConfig(model="wavenet", dataset="signals", hidden=[4, 4])
    x = model_args(cfg, "test")[0][:4]
    cfg.x_shape = list(x.shape[1:])
    fit(build_stepper(cfg), x, epochs=1, batch_size=4, out=out, progress=False, device="cpu")
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    return out


def _built(model: str, argv: list[str]) -> tuple[TrainConfig, Any]:
    """The config and trainer ``pyrogen train MODEL ARGV`` builds (its checks included),
    without reading data beyond one batch's shape."""
    from pyrogen.cli.options import check_fast_path, check_options, resolve_defaults

    cfg, given, _ = train_config(parser().parse_args(["train", model, *argv]))
    spec = get_model(model)
    check_options(spec, given, cfg.loss)
    resolve_defaults(spec, cfg, given)
    if model in SIGNALS:
        cfg.dataset = "signals"
    cfg.x_shape = list(model_args(cfg, "test")[0].shape[1:])
    stepper = build_stepper(cfg)
    check_fast_path(stepper, given)
    return cfg, stepper


def _step(cfg: TrainConfig, stepper: Any) -> None:
    x = model_args(cfg, "test")[0][:4]
    if cfg.model == "pixelcnnpp":  # the discretized logistic's grid: k / 255
        x = (x * 255).round() / 255
    stepper.step(x)


def _optimizers(stepper: Any) -> list[torch.optim.Optimizer]:
    found = []
    for value in vars(stepper).values():
        items = value.values() if isinstance(value, dict) else value
        items = items if isinstance(items, (list, tuple, type({}.values()))) else [items]
        found += [o for o in items if isinstance(o, torch.optim.Optimizer)]
    return found


def _learning_rates(stepper: Any) -> list[float]:
    return [group["lr"] for optim in _optimizers(stepper) for group in optim.param_groups]


def _shapes(stepper: Any) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(p.shape)) for n, p in stepper.module.state_dict().items()]


def _binarized(cfg: TrainConfig) -> torch.Tensor:
    data = training_data(cfg, "test")
    return data.epoch(torch.Generator().manual_seed(0))


# option -> (needs one step, probe(cfg, stepper, default cfg, default stepper, teacher))
PROBES: dict[str, tuple[bool, Callable[..., bool]]] = {
    "lr": (True, lambda c, s, c0, s0, t: 0.5 in _learning_rates(s)),
    "loss": (
        False,
        lambda c, s, c0, s0, t: (
            getattr(s.loss, "kind", type(s.loss).__name__) in ("hinge", "IWAE_ELBO")
        ),
    ),
    "num_particles": (False, lambda c, s, c0, s0, t: s.loss.num_particles == 3),
    "beta": (False, lambda c, s, c0, s0, t: s.loss.beta == 2.0),
    "gamma": (False, lambda c, s, c0, s0, t: s.gamma == 3.0),
    "teacher": (
        False,
        lambda c, s, c0, s0, t: all(
            torch.equal(a, b)
            for a, b in zip(s.module.teacher.state_dict().values(), _teacher_state(t).values())
        ),
    ),
    "z_dim": (False, lambda c, s, c0, s0, t: _shapes(s) != _shapes(s0)),
    "hidden": (False, lambda c, s, c0, s0, t: _shapes(s) != _shapes(s0)),
    "likelihood": (False, lambda c, s, c0, s0, t: _shapes(s) != _shapes(s0)),
    "binarize": (False, lambda c, s, c0, s0, t: not torch.equal(_binarized(c), _binarized(c0))),
    "fast": (False, lambda c, s, c0, s0, t: s0.fast and not s.fast),
    "analytic_kl": (False, lambda c, s, c0, s0, t: s.objective.fast.analytic_kl),
    "particle_chunk": (False, lambda c, s, c0, s0, t: s.objective.fast.particle_chunk == 2),
    "compile": (False, lambda c, s, c0, s0, t: s.objective.compile and not s0.objective.compile),
    "bf16": (False, lambda c, s, c0, s0, t: s.objective.bf16 and not s0.objective.bf16),
    "clip_grad_norm": (False, lambda c, s, c0, s0, t: s._rule.clip_grad_norm == 5.0),
    "accumulate": (True, lambda c, s, c0, s0, t: not s.between_updates),  # 1 of 2 batches
    "lr_schedule": (True, lambda c, s, c0, s0, t: s.scheduler is not None),
    "ema_decay": (True, lambda c, s, c0, s0, t: s.ema is not None),
    # applied by `pyrogen train` after building (tests/cli/test_cli_defaults.py checks the call)
    "init_output_bias": (
        False,
        lambda c, s, c0, s0, t: c0.init_output_bias and not c.init_output_bias,
    ),
}


def _teacher_state(run: Path) -> dict[str, torch.Tensor]:
    from pyrogen.cli.runs import load_run

    return load_run(run, "cpu")[1].module.state_dict()


def _applied_cells() -> list[tuple[str, str]]:
    return [
        (model, option)
        for model in MODELS
        for option in TABLE_OPTIONS
        if option in applied_options(get_model(model))
    ]


@pytest.mark.parametrize("model, option", _applied_cells())
def test_applied_option_reaches_the_trainer(model, option, teacher):
    base = ["--teacher", str(teacher)] if model == "distill" else []  # it needs one
    cfg0, default = _built(model, base)
    cfg, stepper = _built(model, [*base, *_value(option, model, teacher)])
    needs_step, probe = PROBES[option]
    if needs_step:
        _step(cfg, stepper)
    assert probe(cfg, stepper, cfg0, default, teacher), (model, option)


def test_every_applied_option_has_a_probe():
    assert set(PROBES) == set(TABLE_OPTIONS)


# -- the docs ------------------------------------------------------------------------------


def test_docs_table_is_up_to_date():
    written = (ROOT / "docs" / "cli_options.md").read_text(encoding="utf-8")
    assert written == render(), "run: python -m pyrogen.cli.options_doc docs/cli_options.md"


def test_docs_table_shows_what_the_command_line_does():
    text = render()
    row = next(line for line in text.splitlines() if line.startswith("| `--hidden`"))
    header = next(line for line in text.splitlines() if line.startswith("| option"))
    cells = dict(zip(header.split("|")[2:-1], row.split("|")[2:-1]))
    assert cells[" `pixelcnn` "].strip() == "—"
    assert cells[" `vae` "].strip() == "✓ `200 200`"
