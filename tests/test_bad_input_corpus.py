"""A corpus of bad inputs: each fails fast with a clear error naming what was expected.

From Python every case raises ``ValueError`` (the type and key words of the message are
checked). From the command line every case exits with status 2 and one ``error:`` line,
and leaves no run directory behind: nothing appears in the working directory, and an
existing ``--out`` directory is left byte for byte as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from pyro.infer import Trace_ELBO
from torch.utils.data import DataLoader, TensorDataset

from pyrogen.cli import main, registry
from pyrogen.infer import SVITrainer, fit
from pyrogen.metrics import log_likelihood
from pyrogen.models import (
    MADE,
    VAE,
    VQVAE,
    Discriminator,
    FactorVAE,
    FlowDensity,
    GatedPixelCNN,
    GaussianMixture,
    Generator,
    HierarchicalVAE,
    InfoVAE,
    LadderVAE,
    LinearGaussianVAE,
    PixelCNN,
    PixelCNNpp,
    RNNDensity,
    TransformerDensity,
    WaveNet,
    WindowedARVAE,
)

# Without CUDA, "cuda" itself; with it, an index past the last device.
MISSING_CUDA = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"


def _train(data: object, **options: object) -> None:
    vae = VAE((4,), z_dim=2, hidden=(8,))
    options = {"epochs": 1, "progress": False, "device": "cpu", **options}
    fit(SVITrainer(vae, Trace_ELBO()), data, **options)


BINARY = torch.zeros(10, 4)
GREY = torch.full((10, 4), 0.5)
TINY_VAE = VAE((4,), z_dim=2, hidden=(8,))

# (id, call, key words of the ValueError's message)
FIT_CASES: list[tuple[str, Callable[[], object], tuple[str, ...]]] = [
    ("empty tensor", lambda: _train(torch.zeros(0, 4)), ("empty", "0 examples")),
    ("empty tuple", lambda: _train((torch.zeros(0, 4),)), ("empty", "0 examples")),
    ("empty list", lambda: _train([]), ("holds no tensor",)),
    ("empty dict", lambda: _train({}), ("holds no tensor",)),
    ("empty Dataset", lambda: _train(TensorDataset(torch.zeros(0, 4))), ("empty", "Dataset")),
    (
        "empty DataLoader",
        lambda: _train(DataLoader(TensorDataset(torch.zeros(0, 4)), batch_size=2)),
        ("empty", "yielded no batch"),
    ),
    ("empty test data", lambda: _train(BINARY, test_data=torch.zeros(0, 4)), ("test data",)),
    ("float64 data", lambda: _train(BINARY.double()), ("torch.float64", "torch.float32", "x.to")),
    ("int64 data", lambda: _train(BINARY.long()), ("floating-point", "torch.int64")),
    ("bool data", lambda: _train(BINARY.bool()), ("floating-point", "torch.bool")),
    ("grey data, Bernoulli", lambda: _train(GREY), ("binary", "Bernoulli", "binarize")),
    ("NaN data", lambda: _train(torch.full((10, 4), float("nan"))), ("finite", "NaN")),
    ("wrong shape", lambda: _train(torch.zeros(10, 5)), ("shape (batch, 4)", "(10, 5)")),
    ("epochs=0", lambda: _train(BINARY, epochs=0), ("epochs", "positive int", "0")),
    ("epochs=-1", lambda: _train(BINARY, epochs=-1), ("epochs", "positive int")),
    ("batch_size=0", lambda: _train(BINARY, batch_size=0), ("batch_size", "positive int")),
    ("device gpu", lambda: _train(BINARY, device="gpu"), ("unknown device 'gpu'", "cpu")),
    (f"device {MISSING_CUDA}", lambda: _train(BINARY, device=MISSING_CUDA), ("expected one of",)),
]

BUILD_CASES: list[tuple[str, Callable[[], object], tuple[str, ...]]] = [
    ("VAE hidden=()", lambda: VAE((4,), hidden=()), ("hidden", "at least one size")),
    ("VAE hidden=(0,)", lambda: VAE((4,), hidden=(0,)), ("hidden", "positive ints")),
    ("VAE hidden=(-3,)", lambda: VAE((4,), hidden=(-3,)), ("hidden", "positive ints")),
    ("VAE z_dim=0", lambda: VAE((4,), z_dim=0), ("z_dim", "positive int", "0")),
    ("VAE z_dim=-1", lambda: VAE((4,), z_dim=-1), ("z_dim", "positive int")),
    ("VAE z_dim=2.5", lambda: VAE((4,), z_dim=2.5), ("z_dim", "positive int")),
    ("VAE x_shape=(0,)", lambda: VAE((0,), hidden=(8,)), ("x_shape", "positive ints")),
    ("VAE x_shape=()", lambda: VAE((), hidden=(8,)), ("x_shape", "at least one size")),
    ("VAE x_shape=-4", lambda: VAE(-4, hidden=(8,)), ("x_shape", "positive ints")),
    ("conv VAE on vectors", lambda: VAE((64,), arch="conv"), ("image shape (C, H, W)",)),
    ("conv VAE on 7x7", lambda: VAE((1, 7, 7), arch="conv"), ("divisible by 4",)),
    ("FactorVAE hidden=()", lambda: FactorVAE((4,), hidden=()), ("hidden",)),
    ("InfoVAE z_dim=0", lambda: InfoVAE((4,), z_dim=0), ("z_dim", "positive int")),
    ("HVAE z_dims=()", lambda: HierarchicalVAE((4,), z_dims=()), ("z_dims",)),
    ("HVAE z_dims=(0, 2)", lambda: HierarchicalVAE((4,), z_dims=(0, 2)), ("z_dims",)),
    ("HVAE hidden=(0,)", lambda: HierarchicalVAE((4,), hidden=(0,)), ("hidden",)),
    ("LadderVAE z_dims=(3, -1)", lambda: LadderVAE((4,), z_dims=(3, -1)), ("z_dims",)),
    ("VQVAE on vectors", lambda: VQVAE((64,)), ("VQVAE models images", "(C, H, W)")),
    ("VQVAE hidden=0", lambda: VQVAE((1, 8, 8), hidden=0), ("hidden", "positive int")),
    ("VQVAE num_codes=0", lambda: VQVAE((1, 8, 8), num_codes=0), ("num_codes >= 1",)),
    ("flow num_layers=0", lambda: FlowDensity((2,), num_layers=0), ("num_layers",)),
    ("flow x_shape=(0,)", lambda: FlowDensity((0,)), ("x_shape", "positive ints")),
    ("MADE hidden=(0,)", lambda: MADE((4,), hidden=(0,)), ("hidden", "positive ints")),
    ("MADE x_shape=(0,)", lambda: MADE((0,)), ("x_shape",)),
    ("PixelCNN on vectors", lambda: PixelCNN((64,)), ("PixelCNN models images", "(C, H, W)")),
    ("PixelCNN channels=0", lambda: PixelCNN((1, 8, 8), channels=0), ("channels",)),
    ("PixelCNN num_layers=0", lambda: PixelCNN((1, 8, 8), num_layers=0), ("num_layers",)),
    ("PixelCNNpp on vectors", lambda: PixelCNNpp((64,)), ("PixelCNNpp models images",)),
    ("PixelCNNpp channels=0", lambda: PixelCNNpp((1, 8, 8), channels=0), ("channels",)),
    ("GatedPixelCNN channels=-1", lambda: GatedPixelCNN((1, 8, 8), channels=-1), ("channels",)),
    ("GatedPixelCNN num_layers=0", lambda: GatedPixelCNN((1, 8, 8), num_layers=0), ("layers",)),
    ("WaveNet length=0", lambda: WaveNet(0), ("length", "positive int")),
    ("WaveNet channels=0", lambda: WaveNet(16, channels=0), ("channels",)),
    ("WaveNet num_layers=0", lambda: WaveNet(16, num_layers=0), ("num_layers",)),
    ("RNNDensity x_shape=(0,)", lambda: RNNDensity((0,)), ("x_shape",)),
    ("Transformer d_model=0", lambda: TransformerDensity((8,), d_model=0), ("d_model",)),
    ("Transformer num_layers=0", lambda: TransformerDensity((8,), num_layers=0), ("layers",)),
    ("Generator z_dim=0", lambda: Generator((2,), z_dim=0), ("z_dim", "positive int")),
    ("Generator hidden=(0,)", lambda: Generator((2,), hidden=(0,)), ("hidden",)),
    ("DCGAN on 7x7", lambda: Generator((1, 7, 7), arch="dcgan"), ("divisible by 4",)),
    ("Discriminator hidden=()", lambda: Discriminator((2,), hidden=()), ("hidden",)),
    ("GaussianMixture K=0", lambda: GaussianMixture(0, 2), ("positive",)),
    ("LinearGaussianVAE z_dim=0", lambda: LinearGaussianVAE(4, 0), ("positive",)),
    ("WindowedARVAE seq_len=0", lambda: WindowedARVAE(0), ("seq_len", "positive int")),
    ("WindowedARVAE z_dim=0", lambda: WindowedARVAE(8, z_dim=0), ("z_dim", "positive int")),
]

# One small instance of every model family with sample(num_samples).
SAMPLERS: dict[str, Callable[[], object]] = {
    "VAE": lambda: TINY_VAE,
    "HierarchicalVAE": lambda: HierarchicalVAE((4,), z_dims=(4, 2)),
    "LadderVAE": lambda: LadderVAE((4,), z_dims=(4, 2)),
    "FactorVAE": lambda: FactorVAE((4,), z_dim=2, hidden=(8,)),
    "VQVAE": lambda: VQVAE((1, 8, 8), hidden=4, num_codes=4, code_dim=2),
    "FlowDensity": lambda: FlowDensity((2,), num_layers=1, hidden=(4,)),
    "MADE": lambda: MADE((4,), hidden=(8,)),
    "PixelCNN": lambda: PixelCNN((1, 4, 4), channels=4, num_layers=1),
    "WaveNet": lambda: WaveNet(8, channels=4, num_layers=2),
    "RNNDensity": lambda: RNNDensity((4,), hidden=4),
    "Generator": lambda: Generator((2,), hidden=(4,)),
    "GaussianMixture": lambda: GaussianMixture(2, 2),
    "LinearGaussianVAE": lambda: LinearGaussianVAE(4, 2),
    "WindowedARVAE": lambda: WindowedARVAE(4, hidden=(4,)),
}
SAMPLE_CASES = [
    (f"{name}.sample({n!r})", (lambda make=make, n=n: make().sample(n)), ("num_samples",))
    for name, make in SAMPLERS.items()
    for n in (-1, 0, 2.5)
]


def _model_input(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        return fit(SVITrainer(model, Trace_ELBO()), x, epochs=1, progress=False, device="cpu")

    return call


DTYPE_CASES = [
    (
        f"{type(m).__name__} fit on {x.dtype}",
        _model_input(m, x),
        ("dtype" if x.is_floating_point() else "floating-point", str(x.dtype)),
    )
    for m, x in [
        (HierarchicalVAE((4,), z_dims=(4, 2)), BINARY.double()),
        (FlowDensity((2,), num_layers=1, hidden=(4,)), torch.zeros(6, 2, dtype=torch.float64)),
        (MADE((4,), hidden=(8,)), BINARY.long()),
        (PixelCNN((1, 4, 4), channels=4, num_layers=1), torch.zeros(6, 1, 4, 4).double()),
        (LinearGaussianVAE(4, 2), BINARY.double()),
        (WindowedARVAE(4, hidden=(4,)), BINARY.long()),
    ]
]

METRIC_CASES: list[tuple[str, Callable[[], object], tuple[str, ...]]] = [
    (
        "log_likelihood of grey data, Bernoulli",
        lambda: log_likelihood(TINY_VAE, GREY, num_samples=5),
        ("binary", "Bernoulli"),
    ),
    (
        "log_likelihood of float64 data",
        lambda: log_likelihood(TINY_VAE, BINARY.double(), num_samples=5),
        ("torch.float64", "torch.float32"),
    ),
    (
        "log_likelihood, methods given",
        lambda: log_likelihood(TINY_VAE.model, TINY_VAE.guide, GREY, num_samples=5),
        ("binary",),
    ),
    (
        "log_likelihood of the wrong shape",
        lambda: log_likelihood(TINY_VAE, torch.zeros(3, 5), num_samples=5),
        ("shape (batch, 4)",),
    ),
]

PYTHON_CASES = FIT_CASES + BUILD_CASES + SAMPLE_CASES + DTYPE_CASES + METRIC_CASES


@pytest.mark.parametrize("call, words", [pytest.param(c, w, id=i) for i, c, w in PYTHON_CASES])
def test_bad_python_input_raises_a_clear_value_error(call, words):
    with pytest.raises(ValueError) as raised:
        call()
    message = str(raised.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"{missing} not in {message!r}"


def test_the_corpus_does_not_refuse_good_input():
    """The same calls with good values run: the checks refuse the mistake, not the call."""
    _train(BINARY, epochs=1, batch_size=5)
    assert VAE((4,), z_dim=1, hidden=(1,)).sample(1).shape == (1, 4)
    assert HierarchicalVAE((4,), z_dims=(2, 1), hidden=()).sample(2).shape == (2, 4)
    assert MADE((4,), hidden=()).sample(3).shape == (3, 4)
    assert torch.isfinite(log_likelihood(TINY_VAE, BINARY, num_samples=5)).all()


# -- plugins that take a name already registered ------------------------------------------


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test are dropped after it."""
    registry.list_models()  # the built-ins are registered first, as in any real run
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_LOSSES", dict(registry._LOSSES))


def _other_vae(x_shape, **_):
    return VAE(x_shape)


def test_a_plugin_model_cannot_take_a_built_in_name(scratch_registry):
    with pytest.raises(ValueError) as raised:
        registry.register_model("vae")(_other_vae)
    message = str(raised.value)
    assert "'vae' is already registered by pyrogen.cli.builtins" in message
    assert "_other_vae" in message and "another name" in message
    assert registry.get_model("vae").build is not _other_vae


def test_a_plugin_loss_cannot_take_a_built_in_name(scratch_registry):
    with pytest.raises(ValueError, match="loss name 'elbo' is already registered"):
        registry.register_loss("elbo")(lambda config: Trace_ELBO())


def test_two_plugins_cannot_share_a_name_but_one_may_register_again(scratch_registry):
    registry.register_model("corpus_vae")(_other_vae)
    registry.register_model("corpus_vae")(_other_vae)  # its file imported a second time

    def another(x_shape, **_):
        return VAE(x_shape)

    with pytest.raises(ValueError, match="'corpus_vae' is already registered by"):
        registry.register_model("corpus_vae")(another)
    assert registry.get_model("corpus_vae").build is _other_vae


# -- the command line ---------------------------------------------------------------------

PLUGIN = """
from pyrogen.models import VAE
from pyrogen.cli.registry import register_model

@register_model("vae")
def build(x_shape, **unused):
    return VAE(x_shape)
"""

VAE_ARGS = ["train", "vae", "--z-dim", "2", "--hidden", "8", "--epochs", "1"]
# (id, argv, key words of the error line); {plugin} is a file registering "vae" again.
CLI_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    (
        f"--device {MISSING_CUDA}",
        [*VAE_ARGS, "--device", MISSING_CUDA],
        (f"device '{MISSING_CUDA}'", "expected one of: auto, cpu"),
    ),
    ("--device gpu", [*VAE_ARGS, "--device", "gpu"], ("unknown device 'gpu'", "auto, cpu")),
    (
        "pixelcnnpp on digits",
        ["train", "pixelcnnpp", "--epochs", "1", "--device", "cpu"],
        ("'pixelcnnpp' cannot train on dataset 'digits'", "k/255", "datasets that fit it", "mnist"),
    ),
    (
        "conv_vae on 1-D signals",
        ["train", "conv_vae", "--dataset", "signals", "--likelihood", "gaussian"],
        ("image shape (C, H, W)",),
    ),
    ("--epochs 0", [*VAE_ARGS, "--epochs", "0"], ("--epochs must be a positive int, got 0",)),
    ("--batch-size 0", [*VAE_ARGS, "--batch-size", "0"], ("--batch-size", "positive int")),
    ("--lr -1", [*VAE_ARGS, "--lr", "-1"], ("--lr must be a finite number > 0",)),
    ("--lr nan", [*VAE_ARGS, "--lr", "nan"], ("--lr", "finite")),
    ("--z-dim 0", [*VAE_ARGS, "--z-dim", "0"], ("--z-dim", "positive int")),
    ("--hidden 0", [*VAE_ARGS, "--hidden", "0"], ("--hidden", "positive ints")),
    ("--num-particles 0", [*VAE_ARGS, "--num-particles", "0"], ("--num-particles",)),
    ("--accumulate 0", [*VAE_ARGS, "--accumulate", "0"], ("--accumulate", "positive int")),
    ("--early-stopping 0", [*VAE_ARGS, "--early-stopping", "0"], ("--early-stopping",)),
    ("--ema-decay 1.5", [*VAE_ARGS, "--ema-decay", "1.5"], ("--ema-decay", "[0, 1)")),
    ("--clip-grad-norm 0", [*VAE_ARGS, "--clip-grad-norm", "0"], ("--clip-grad-norm", "> 0")),
    ("unknown model", ["train", "vea"], ("unknown model 'vea'", "vae")),
    ("unknown dataset", [*VAE_ARGS, "--dataset", "mnits"], ("mnits", "mnist")),
    ("unknown loss", [*VAE_ARGS, "--loss", "elbow"], ("unknown loss 'elbow'", "elbo")),
    (
        "plugin taking the name vae",
        [*VAE_ARGS, "--import", "{plugin}"],
        ("'vae' is already registered by pyrogen.cli.builtins",),
    ),
]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh working directory (the default ``runs/`` would appear in it) and the data
    root resolved before leaving the repository's directory."""
    data = os.environ.get("PYROGEN_DATA")
    if data:
        monkeypatch.setenv("PYROGEN_DATA", str(Path(data).resolve()))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    plugin = tmp_path / "taken_name.py"
    plugin.write_text(PLUGIN)
    return work, plugin


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _run(argv: list[str], plugin: Path, capsys) -> str:
    argv = [a.replace("{plugin}", str(plugin)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("argv, words", [pytest.param(a, w, id=i) for i, a, w in CLI_CASES])
def test_bad_command_line_fails_in_one_line_and_writes_nothing(argv, words, isolated, capsys):
    work, plugin = isolated
    err = _run(argv, plugin, capsys)
    missing = [w for w in words if w not in err]
    assert not missing, f"{missing} not in {err!r}"
    assert list(work.iterdir()) == []  # no runs/<name> directory


@pytest.mark.parametrize(
    "argv",
    [pytest.param(a, id=i) for i, a, _ in CLI_CASES if i != "unknown model"],
)
def test_bad_command_line_leaves_an_existing_out_directory_untouched(argv, isolated, capsys):
    work, plugin = isolated
    out = work / "run"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    before = _snapshot(work)
    _run([*argv, "--out", str(out)], plugin, capsys)
    assert _snapshot(work) == before
