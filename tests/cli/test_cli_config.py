"""``config.json`` records what the model is built with, a run reloads from it alone, and
``--seed`` reproduces a run."""

import json

import torch

from pyrogen.cli import main, registry
from pyrogen.cli.runs import load_run
from pyrogen.models import VAE

TINY = ["--epochs", "1", "--device", "cpu", "--quiet"]


def _losses(out):
    rows = (out / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    keep = [i for i, name in enumerate(header) if "loss" in name or "elbo" in name]
    return [[row.split(",")[i] for i in keep] for row in rows[1:]]


def test_one_seed_reproduces_a_run_and_another_does_not(tmp_path):
    outs = [tmp_path / name for name in ("a", "b", "c")]
    for out, seed in zip(outs, ("3", "3", "4")):
        assert main(["train", "vae", "--z-dim", "2", "--hidden", "8", "--seed", seed, *TINY,
                     "--out", str(out)]) == 0  # fmt: skip
    a, b, c = (_losses(out) for out in outs)
    assert a and a == b
    assert a != c


def test_config_records_the_architecture_and_a_run_loads_without_the_cli(tmp_path):
    out = tmp_path / "vae"
    assert main(["train", "vae", *TINY, "--batch-size", "500", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    # the VAE class's own defaults, written down, not implied
    built = VAE(config["x_shape"])
    assert (config["z_dim"], config["hidden"], config["likelihood"]) == (
        built.z_dim,
        [200, 200],
        "bernoulli",
    )
    cfg, stepper = load_run(out, "cpu")
    model = stepper.module
    assert isinstance(model, VAE) and model.z_dim == built.z_dim == 50
    assert [p.shape for p in built.parameters()] == [p.shape for p in model.parameters()]
    state = torch.load(out / "checkpoint.pt", weights_only=True)["stepper"]["module"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_gan_records_its_own_loss_and_trains_at_the_given_rate(tmp_path):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--lr", "0.5", "--hidden", "4", *TINY, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == "nonsaturating" and config["lr"] == 0.5
    state = torch.load(out / "checkpoint.pt", weights_only=True)["stepper"]
    assert state["optim_g"]["param_groups"][0]["lr"] == 0.5
    assert state["optim_d"]["param_groups"][0]["lr"] == 0.5


def test_import_paths_are_stored_absolute(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))  # registers for this test
    plugin = tmp_path / "my_models.py"
    plugin.write_text(
        "from pyrogen.cli.builtins import _vae\n"
        "from pyrogen.cli.registry import register_model\n"
        "register_model('my_vae', options=('lr', 'z_dim', 'hidden'))(_vae)\n"
    )
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "my_vae", "--import", "my_models.py", "--z-dim", "2", "--hidden", "8"]
    assert main([*argv, *TINY, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["imports"] == [str(plugin)]
    # options=() lists what it applies: the likelihood is not among them
    assert main(["train", "my_vae", "--likelihood", "gaussian", "--out", str(tmp_path / "x")]) == 2
    assert "does not apply --likelihood" in capsys.readouterr().err
