"""Safe to load: a run directory from someone else never runs code on the reader's machine.

Checkpoints load with ``torch.load(weights_only=True)`` only; a file that would need full
unpickling is refused by ``eval``, ``sample`` and resumed training, and its payload never runs.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.distributions import constraints
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule
from pyro.optim import Adam
from torch import nn

from pyrogen.cli import main
from pyrogen.infer import SVITrainer, fit
from pyrogen.infer.checkpoint import (
    CheckpointError,
    export_weights,
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.infer.vq_vae_trainer import VQVAETrainer
from pyrogen.models import VAE
from pyrogen.models.vq_vae import VQVAE

TINY = ["--dataset", "digits", "--epochs", "1", "--device", "cpu", "--quiet"]
VAE_ARGV = ["train", "vae", "--hidden", "8", "--z-dim", "2"]


class Payload:
    """Unpickling this creates ``marker``: a harmless stand-in for ``os.system(...)``."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _malicious_checkpoint(path: pathlib.Path, marker: pathlib.Path) -> None:
    good = torch.load(path, weights_only=True)
    good["stepper"]["evil"] = Payload(marker)
    torch.save(good, path)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "vae"
    assert main([*VAE_ARGV, *TINY, "--out", str(run)]) == 0
    return run


@pytest.fixture
def hostile_run(vae_run, tmp_path):
    """A copy of a real run directory whose checkpoint.pt would create ``marker`` if unpickled."""
    run, marker = tmp_path / "shared_run", tmp_path / "pwned"
    run.mkdir()
    for f in vae_run.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    _malicious_checkpoint(run / "checkpoint.pt", marker)
    return run, marker


def test_the_payload_runs_under_full_unpickling(hostile_run):
    """The test has teeth: the old loader (weights_only=False) does run the payload."""
    run, marker = hostile_run
    torch.load(run / "checkpoint.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "{run}", "--device", "cpu"],
        ["sample", "{run}", "-n", "4", "--out", "{run}/grid.png"],
        [*VAE_ARGV, "--dataset", "digits", "--epochs", "2", "--device", "cpu", "--out", "{run}"],
    ],
    ids=["eval", "sample", "resume"],
)
def test_cli_refuses_a_checkpoint_that_needs_unpickling(hostile_run, argv, capsys):
    run, marker = hostile_run
    assert main([a.replace("{run}", str(run)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert f"refusing to load checkpoint {run / 'checkpoint.pt'}" in err
    assert "pathlib" in err and "arbitrary code" in err  # what it names, and why
    assert not marker.exists()


def test_fit_resume_refuses_it_too(hostile_run):
    run, marker = hostile_run
    trainer = SVITrainer(VAE(64, 2, hidden=[8]), lr=1e-3)
    with pytest.raises(CheckpointError, match="refusing to load checkpoint .*checkpoint.pt"):
        fit(trainer, torch.zeros(8, 64), epochs=2, out=run, progress=False)
    assert not marker.exists()


def test_a_corrupt_pickle_is_not_called_hostile(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"\x80\x02not a pickle at all")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_saving_an_object_that_would_need_unpickling_fails_and_names_it(tmp_path):
    with pytest.raises(TypeError, match=r"state\['stepper'\]\['x'\] is a numpy.ndarray"):
        save_checkpoint(tmp_path / "c.pt", {"stepper": {"x": np.zeros(3)}})
    assert not (tmp_path / "c.pt").exists()


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    import random

    torch.manual_seed(3)
    np.random.seed(3)  # noqa: NPY002
    random.seed(3)
    np.random.normal()  # noqa: NPY002 (leaves a cached Gaussian in the state)
    save_checkpoint(tmp_path / "c.pt", {"rng": rng_state()})
    expected = (torch.rand(3), np.random.normal(size=3), random.random())  # noqa: NPY002
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    got = (torch.rand(3), np.random.normal(size=3), random.random())  # noqa: NPY002
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]


CLI_RUNS = {
    "svi_loop": [
        *VAE_ARGV,
        "--loss",
        "beta_elbo",
        "--lr-schedule",
        "cosine",
        "--ema-decay",
        "0.9",
        "--clip-grad-norm",
        "1",
        "--early-stopping",
        "3",
    ],
    "svi_iwae_schedule": [*VAE_ARGV, "--loss", "iwae", "--num-particles", "2"],
    "iaf_vae": ["train", "iaf_vae", "--hidden", "8", "--z-dim", "2"],
    "adversarial": ["train", "gan", "--hidden", "8", "--z-dim", "2"],
    "factor_vae": ["train", "factor_vae", "--hidden", "8", "--z-dim", "2"],
    "autoregressive": ["train", "made", "--hidden", "8"],
}


@pytest.mark.parametrize("name", sorted(CLI_RUNS))
def test_cli_checkpoints_load_weights_only(name, tmp_path):
    run = tmp_path / name
    assert main([*CLI_RUNS[name], *TINY, "--out", str(run)]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["stepper"]["module"]


def test_distillation_checkpoints_load_weights_only(tmp_path):
    tiny = ["--dataset", "signals", "--epochs", "1", "--batch-size", "1000", "--device", "cpu"]
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    assert main(["train", "wavenet", "--hidden", "8", "8", "--out", str(teacher), *tiny]) == 0
    argv = ["train", "distill", "--teacher", str(teacher), "--hidden", "8", "8"]
    assert main([*argv, "--out", str(student), *tiny]) == 0
    for run in (teacher, student):
        torch.load(run / "checkpoint.pt", weights_only=True)


class ParamSites(PyroModule):
    """A model with a constrained ``pyro.param`` site and an AutoGuide: parameters that the
    trainer creates on the first call (its extra ``params``)."""

    def __init__(self):
        super().__init__()
        self.dec = nn.Linear(2, 6)
        self.guide = AutoNormal(self.model)

    def model(self, x):
        scale = pyro.param("scale", torch.ones(()), constraint=constraints.interval(0.1, 5.0))
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(2), scale).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(1), obs=x)


def _bits():
    return (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()


def test_python_steppers_write_weights_only_checkpoints(tmp_path):
    x = _bits()
    vq = VQVAETrainer(VQVAE((1, 8, 8), num_codes=4, code_dim=2, hidden=4))
    fit(vq, x, epochs=1, batch_size=8, out=tmp_path / "vq", progress=False)
    torch.load(tmp_path / "vq" / "checkpoint.pt", weights_only=True)

    trainer = SVITrainer(ParamSites(), lr=0.01)
    fit(trainer, x.flatten(1)[:, :6], epochs=1, batch_size=8, out=tmp_path / "auto", progress=False)
    state = torch.load(tmp_path / "auto" / "checkpoint.pt", weights_only=True)
    assert any("guide" in k for k in state["stepper"]["module"])


def test_plain_svi_keeps_its_param_constraints_through_a_weights_only_checkpoint(tmp_path):
    model = ParamSites()
    with pyro.settings.context(module_local_params=False):
        pyro.clear_param_store()
        svi = SVI(model.model, model.guide, Adam({"lr": 0.01}), Trace_ELBO())
        fit(svi, _bits().flatten(1)[:, :6], epochs=1, batch_size=8, out=tmp_path, progress=False)
        saved = dict(pyro.get_param_store().named_parameters())
        pyro.clear_param_store()
        state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
        SVIAdapter(svi).load_state_dict(state["stepper"])
        store = pyro.get_param_store()
        scale = store._constraints["scale"]
        assert isinstance(scale, type(constraints.interval(0.0, 1.0)))
        assert (scale.lower_bound, scale.upper_bound) == (0.1, 5.0)
        for k, v in saved.items():
            torch.testing.assert_close(store._params[k], v, rtol=0, atol=0)
        pyro.clear_param_store()


def test_exported_weights_round_trip_into_a_fresh_vae(tmp_path):
    torch.manual_seed(0)
    vae = VAE(64, 2, hidden=[8])
    path = tmp_path / "vae.safetensors"
    export_weights(vae, path)
    torch.manual_seed(1)
    fresh = VAE(64, 2, hidden=[8])
    x = torch.rand(5, 64)
    assert not torch.equal(fresh.reconstruct(x), vae.reconstruct(x))  # differs before loading
    assert load_weights(fresh, path) is fresh
    for (k, a), (_, b) in zip(vae.state_dict().items(), fresh.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    torch.testing.assert_close(fresh.reconstruct(x), vae.reconstruct(x), rtol=0, atol=0)
    torch.testing.assert_close(fresh.encode(x), vae.encode(x), rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="cannot load weights"):
        load_weights(VAE(64, 3, hidden=[8]), path)


def test_without_safetensors_the_export_is_a_weights_only_torch_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # import fails
    torch.manual_seed(0)
    vae = VAE(64, 2, hidden=[8])
    export_weights(vae, tmp_path / "vae.pt")
    torch.load(tmp_path / "vae.pt", weights_only=True)
    fresh = load_weights(VAE(64, 2, hidden=[8]), tmp_path / "vae.pt")
    x = torch.rand(5, 64)
    torch.testing.assert_close(fresh.reconstruct(x), vae.reconstruct(x), rtol=0, atol=0)
