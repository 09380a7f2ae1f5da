"""``--import`` models that take labels (``register_model(..., labels=True)``): trained on
the dataset's (x, y), evaluated as p(x | y), sampled per class; and the ``enum_elbo`` loss."""

import json
import textwrap

import pyro
import pytest
import torch
from pyro.infer import TraceEnum_ELBO

from pyrogen.cli import main
from pyrogen.cli.registry import get_loss, get_model, import_plugin
from pyrogen.cli.runs import LabelledEpochs, load_run
from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit, load_checkpoint

# Every model checks, on every call, that it got labels y (int64, (N,)) and that each label
# is that of its image (the digits are all distinct, so an image names its label): a model
# fed no labels, shuffled labels or labels of other rows fails at once.
PLUGIN = '''
import math

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample, pyro_method
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional as F

from pyrogen.cli.registry import register_model

_DIGITS = load_digits()
LABEL_OF = {
    img.astype(np.uint8).tobytes(): int(t) for img, t in zip(_DIGITS.images, _DIGITS.target)
}


def check_labels(x, y):
    assert isinstance(y, torch.Tensor) and y.dtype == torch.int64, y
    assert y.shape == (x.shape[0],), (tuple(y.shape), tuple(x.shape))
    keys = (x * 16).round().to(torch.uint8).reshape(-1, 8, 8).cpu().numpy()
    assert [LABEL_OF[k.tobytes()] for k in keys] == y.tolist(), "labels do not match images"


class TinyCVAE(PyroModule):
    def __init__(self, x_shape, num_classes, z_dim=2):
        super().__init__()
        self.x_shape, self.k, self.z_dim = tuple(x_shape), num_classes, z_dim
        d = math.prod(x_shape)
        self.enc = nn.Linear(d + num_classes, 2 * z_dim)
        self.dec = nn.Linear(z_dim, d)
        self.label_loc = nn.Parameter(torch.zeros(num_classes, d))  # depends on y alone
        self.log_scale = nn.Parameter(torch.zeros(()))

    def _loc(self, z, y):
        loc = self.dec(z) + self.label_loc[y]
        return loc.reshape(*loc.shape[:-1], *self.x_shape)

    def model(self, x, y):
        check_labels(x, y)
        with pyro.plate("data", y.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(self.z_dim), 1.0).to_event(1))
            fn = dist.Normal(self._loc(z, y), self.log_scale.exp()).to_event(3)
            pyro.sample("x", fn, obs=x)

    def guide(self, x, y):
        check_labels(x, y)
        h = self.enc(torch.cat([x.flatten(1), F.one_hot(y, self.k).float()], -1))
        loc, raw = h.chunk(2, -1)
        with pyro.plate("data", y.shape[0]):
            pyro.sample("z", dist.Normal(loc, F.softplus(raw) + 1e-3).to_event(1))

    def sample(self, num_samples, y=None):
        assert y is not None and y.shape == (num_samples,)
        return self._loc(torch.randn(num_samples, self.z_dim), y).clamp(0, 1)


class NoLabelSample(TinyCVAE):
    def sample(self, num_samples):
        return self._loc(torch.randn(num_samples, self.z_dim), torch.zeros(num_samples).long())


class Unlabelled(PyroModule):
    def __init__(self, x_shape):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(x_shape))

    def model(self, x):  # a second argument would be a TypeError
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(self.loc, 1.0).to_event(3), obs=x)

    def guide(self, x):
        pass


class Mixture(PyroModule):
    def __init__(self, x_shape, k=3):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.logits = nn.Parameter(torch.zeros(k))
        self.locs = nn.Parameter(torch.randn(k, 2))
        self.enc = nn.Linear(math.prod(x_shape), 4)
        self.dec = nn.Linear(2, math.prod(x_shape))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample(
                "c", dist.Categorical(logits=self.logits), infer={"enumerate": "parallel"}
            )
            z = pyro.sample("z", dist.Normal(self.locs[c], 1.0).to_event(1))
            loc = self.dec(z).reshape(*z.shape[:-1], *self.x_shape)
            pyro.sample("x", dist.Normal(loc, 0.5).to_event(3), obs=x)

    def guide(self, x):
        loc, raw = self.enc(x.flatten(1)).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, F.softplus(raw) + 1e-3).to_event(1))


class BayesMeans(PyroModule):
    """x | y ~ N(w_y, 0.5^2) per pixel, w ~ N(0, 1): global latents, AutoNormal guide."""

    def __init__(self, x_shape, num_classes):
        super().__init__()
        self.w = PyroSample(dist.Normal(0.0, 1.0).expand((num_classes, *x_shape)).to_event(4))
        self.guide = AutoNormal(self.model)

    @pyro_method
    def model(self, x, y):
        check_labels(x, y)
        loc = self.w[y]
        with pyro.plate("data", y.shape[0]):
            pyro.sample("x", dist.Normal(loc, 0.5).to_event(3), obs=x)


@register_model("tiny_cvae", labels=True, binarize=None)
def _tiny(x_shape, num_classes, **unused):
    return TinyCVAE(x_shape, num_classes)


@register_model("tiny_no_label_sample", labels=True, binarize=None)
def _no_label_sample(x_shape, num_classes, **unused):
    return NoLabelSample(x_shape, num_classes)


@register_model("tiny_unlabelled", binarize=None)
def _unlabelled(x_shape, **unused):
    return Unlabelled(x_shape)


@register_model("tiny_mixture", binarize=None)
def _mixture(x_shape, **unused):
    return Mixture(x_shape)


@register_model("tiny_bayes", labels=True, binarize=None)
def _bayes(x_shape, num_classes, **unused):
    return BayesMeans(x_shape, num_classes)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "tiny_labels.py"
    path.write_text(textwrap.dedent(PLUGIN))
    return str(path)


def _train(plugin, out, model, *extra):
    argv = ["train", model, "--import", plugin, "--epochs", "1", "--device", "cpu"]
    return main([*argv, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def cvae_run(plugin, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cvae"
    with pyro.settings.context(module_local_params=True):
        assert _train(plugin, out, "tiny_cvae", "--epochs", "2", "--lr", "0.01") == 0
    return out


def test_labelled_model_trains_on_the_labels_of_each_image(cvae_run):
    config = json.loads((cvae_run / "config.json").read_text())
    assert config["num_classes"] == 10 and config["model"] == "tiny_cvae"
    assert len((cvae_run / "metrics.csv").read_text().strip().splitlines()) == 3
    assert (cvae_run / "samples.png").read_bytes()[:4] == b"\x89PNG"


def test_the_label_dependent_parameter_learned_each_class(cvae_run):
    """label_loc[k] receives gradient from the images of class k alone: after training it
    looks most like the mean image of class k (labels dropped or misassigned: it would not)."""
    _, stepper = load_run(cvae_run, "cpu")
    learned = stepper.module.label_loc.detach()
    x, y = load("digits", "train")
    means = torch.stack([x[y == k].flatten(1).mean(0) for k in range(10)])
    centred = means - means.mean(0)
    sims = torch.nn.functional.cosine_similarity(
        learned.unsqueeze(1), centred.unsqueeze(0), dim=-1
    )  # (10 learned rows, 10 class means)
    assert (sims.argmax(1) == torch.arange(10)).sum() >= 7, sims  # 8-10 over seeds; 1 by chance


def test_eval_reports_the_conditional_nll(cvae_run, capsys):
    assert main(["eval", str(cvae_run), "--num-samples", "50", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "test NLL" in printed and "of x | y" in printed
    result = json.loads((cvae_run / "eval.json").read_text())
    assert result["nll_of"] == "p(x | y)" and result["test_examples"] == 297
    assert result["test_nll"] < -result["test_elbo"] + 0.5  # IS is the tighter bound
    # --limit takes a random subset of the pairs: each label stays with its image.
    assert main(["eval", str(cvae_run), "--num-samples", "5", "--limit", "40"]) == 0


def test_sample_draws_per_class(cvae_run, tmp_path, capsys):
    target = tmp_path / "grid.png"
    assert main(["sample", str(cvae_run), "-n", "30", "--out", str(target)]) == 0
    assert "3 samples for each of the 10 classes" in capsys.readouterr().out
    assert target.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="fewer than one sample for each of the 10 classes"):
        main(["sample", str(cvae_run), "-n", "5", "--out", str(target)])


def test_sample_refuses_a_labelled_model_whose_sample_takes_no_labels(plugin, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(plugin, out, "tiny_no_label_sample") == 0
    assert "takes no labels y" in capsys.readouterr().out  # no samples.png, said so
    assert not (out / "samples.png").exists()
    with pytest.raises(SystemExit, match="takes no labels y"):
        main(["sample", str(out), "--out", str(tmp_path / "grid.png")])
    assert not (tmp_path / "grid.png").exists()


def test_labelled_model_on_a_dataset_without_labels_fails_before_training(plugin, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(plugin, out, "tiny_cvae", "--dataset", "binarized_mnist") == 2
    err = capsys.readouterr().err
    assert "'tiny_cvae' is conditional on class labels" in err
    assert "dataset 'binarized_mnist' has no labels" in err
    assert not out.exists()


def test_unlabelled_model_on_a_labelled_dataset_gets_x_alone(plugin, tmp_path):
    out = tmp_path / "run"
    assert _train(plugin, out, "tiny_unlabelled") == 0
    assert json.loads((out / "config.json").read_text())["num_classes"] is None
    assert main(["eval", str(out), "--num-samples", "2"]) == 0


def test_labelled_epochs_redraw_the_binarization_and_keep_the_labels():
    data = load("digits", "train", binarize="dynamic")
    epochs = LabelledEpochs(data)
    (x0, y0), (x1, y1) = (epochs.epoch(torch.Generator().manual_seed(s)) for s in (0, 1))
    assert torch.equal(y0, data.y) and torch.equal(y1, data.y)
    assert set(x0.unique().tolist()) == {0.0, 1.0} and not torch.equal(x0, x1)
    # every draw is a binarization of the same rows: black pixels stay black, full ones full
    assert bool((x0[data.x == 0] == 0).all() and (x1[data.x == 1] == 1).all())
    with pytest.raises(ValueError, match="has no labels"):
        LabelledEpochs(type(data)(data.x, None, name="nolabels"))


def test_fit_draws_a_new_binarization_every_epoch_for_labelled_data():
    seen = []

    class Recorder(pyro.nn.PyroModule):
        def __init__(self):
            super().__init__()
            self.logit = torch.nn.Parameter(torch.zeros(10, 1, 8, 8))

        def model(self, x, y):
            seen.append((x.sum().item(), y.sum().item()))
            with pyro.plate("data", x.shape[0]):
                pyro.sample(
                    "x", pyro.distributions.Bernoulli(logits=self.logit[y]).to_event(3), obs=x
                )

        def guide(self, x, y):
            pass

    data = LabelledEpochs(load("digits", "train", binarize="dynamic"))
    fit(SVITrainer(Recorder()), data, epochs=2, batch_size=1500, progress=False)
    # one step per epoch (guide and model each once, plus the first batch's setup call)
    ink = [s for s, _ in seen]
    labels = {t for _, t in seen}
    assert len(set(ink)) >= 2 and labels == {float(data.data.y.sum())}


def test_enum_elbo_is_trace_enum_with_one_plate():
    loss = get_loss("enum_elbo", {"num_particles": 3})
    assert isinstance(loss, TraceEnum_ELBO)
    assert loss.max_plate_nesting == 1 and loss.num_particles == 3


def test_enumerated_model_needs_enum_elbo_and_is_evaluated_with_it(plugin, tmp_path, capsys):
    refused = tmp_path / "refused"
    assert _train(plugin, refused, "tiny_mixture") == 2
    assert "--loss enum_elbo" in capsys.readouterr().err and not refused.exists()
    out = tmp_path / "run"
    assert _train(plugin, out, "tiny_mixture", "--loss", "enum_elbo") == 0
    assert main(["eval", str(out), "--num-samples", "100"]) == 0
    result = json.loads((out / "eval.json").read_text())
    # c summed out in both (TraceEnum_ELBO, enumerated IS): the IS estimate is the tighter
    # bound. tests/metrics/test_conditional_likelihood.py pins the enumerated estimate.
    assert result["test_nll"] < -result["test_elbo"]
    assert "active_units" in result and "elbo_surgery/avg_kl" not in result


def test_autoguide_run_reloads_its_trained_guide(plugin, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--epochs", "30", "--batch-size", "1500", "--lr", "0.1"]
    assert _train(plugin, out, "tiny_bayes", *argv) == 0
    _, stepper = load_run(out, "cpu")
    state = load_checkpoint(out / "checkpoint.pt")["stepper"]["module"]
    loaded = stepper.module.guide.locs.w_unconstrained.detach()
    assert torch.equal(loaded, state["guide.locs.w_unconstrained"]) and loaded.abs().sum() > 0
    assert main(["eval", str(out), "--num-samples", "20"]) == 0
    printed = capsys.readouterr().out
    assert "posterior predictive" in printed and "test ELBO : not reported" in printed
    result = json.loads((out / "eval.json").read_text())
    assert result["nll_of"].startswith("posterior predictive p(x | y) over w")
    assert "test_elbo" not in result


def test_registry_records_labels(plugin):
    import_plugin(plugin)
    assert get_model("tiny_cvae").labels and not get_model("tiny_unlabelled").labels
    assert not get_model("vae").labels
