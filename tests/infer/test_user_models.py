"""A user's own model, in every Pyro idiom, trains under SVITrainer and fit."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal
from pyro.nn import PyroModule, PyroParam, PyroSample, pyro_method
from torch import nn

from pyrogen.infer import SVITrainer, fit


def _bits(n=32, d=12, seed=1):
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


class PlainModules(PyroModule):
    """The README's idiom: plain nn.Module sub-networks, plain model/guide methods."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(12, 4), nn.Linear(2, 12)

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(1), obs=x)

    def guide(self, x):
        loc, s = self.enc(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(s)).to_event(1))


class PyroLayers(PlainModules):
    """Pyro's idiom: PyroModule[nn.Linear] layers and pyro_method model/guide."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec = PyroModule[nn.Linear](12, 4), PyroModule[nn.Linear](2, 12)

    model = pyro_method(PlainModules.model)
    guide = pyro_method(PlainModules.guide)


class ModuleCalls(nn.Module):
    """A plain nn.Module whose model and guide register their networks with pyro.module."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(12, 4), nn.Linear(2, 12)

    def model(self, x):
        dec = pyro.module("dec", self.dec)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=dec(z)).to_event(1), obs=x)

    def guide(self, x):
        loc, s = pyro.module("enc", self.enc)(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(s)).to_event(1))


class ParamStoreGuide(nn.Module):
    """A model with a global latent and a hand-written guide built from pyro.param."""

    def __init__(self):
        super().__init__()
        self.log_noise = nn.Parameter(torch.zeros(()))

    def model(self, x):
        mu = pyro.sample("mu", dist.Normal(torch.zeros(12), 10.0).to_event(1))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(mu, self.log_noise.exp()).to_event(1), obs=x)

    def guide(self, x):
        loc = pyro.param("q_loc", torch.zeros(12))
        scale = pyro.param("q_scale", torch.ones(12), constraint=dist.constraints.positive)
        pyro.sample("mu", dist.Normal(loc, scale).to_event(1))


class BayesianRegression(PyroModule):
    """PyroSample priors on a layer's weights, PyroParam noise, an AutoNormal guide."""

    def __init__(self):
        super().__init__()
        self.linear = PyroModule[nn.Linear](3, 1)
        self.linear.weight = PyroSample(dist.Normal(0.0, 1.0).expand([1, 3]).to_event(2))
        self.linear.bias = PyroSample(dist.Normal(0.0, 1.0).expand([1]).to_event(1))
        self.noise = PyroParam(torch.tensor(1.0), constraint=dist.constraints.positive)

    def forward(self, x, y=None):
        mean = self.linear(x).squeeze(-1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Normal(mean, self.noise), obs=y)

    model = forward


def _regression_data(n=200):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([1.5, -2.0, 0.5]) + 0.3 + 0.1 * torch.randn(n, generator=g)


@pytest.mark.parametrize("cls", [PlainModules, PyroLayers, ModuleCalls, ParamStoreGuide])
def test_every_idiom_trains_every_parameter_under_fit(cls, capsys):
    x = _bits()
    m = cls()
    trainer = SVITrainer(m, Trace_ELBO(), lr=0.05)
    first = float(trainer.evaluate(x)["loss"])  # creates any lazily built parameter
    before = {id(p): p.detach().clone() for p in m.parameters()}
    history = fit(trainer, x, epochs=20, batch_size=16, progress=True)
    params = trainer.params
    assert len(params) >= len(list(m.parameters()))
    assert all(not torch.equal(before.get(id(p), p.detach() + 1), p) for p in params)
    assert history[-1]["train_loss"] < first
    # fit says which implementation of the objective ran, and why
    assert f"objective path: {trainer.path} (" in capsys.readouterr().out


def test_a_pyro_param_guide_trains_to_the_posterior_and_resumes(tmp_path):
    x = _bits(64) * 2.0 - 1.0
    runs = []
    for epochs, resume_at in ((30, None), (30, 12)):
        pyro.clear_param_store()
        torch.manual_seed(0)
        m = ParamStoreGuide()
        if resume_at is not None:
            out = tmp_path / "run"
            fit(SVITrainer(m, lr=0.05), x, epochs=resume_at, batch_size=16, out=out)
            pyro.clear_param_store()
            m = ParamStoreGuide()
            fit(SVITrainer(m, lr=0.05), x, epochs=epochs, batch_size=16, out=out)
        else:
            fit(SVITrainer(m, lr=0.05), x, epochs=epochs, batch_size=16, progress=False)
        runs.append(pyro.param("q_loc").detach().clone())
    # the posterior mean of mu is close to the data mean (prior scale 10 >> noise)
    assert torch.allclose(runs[0], x.mean(0), atol=0.25)
    torch.testing.assert_close(runs[0], runs[1])


@pytest.mark.parametrize("guide_cls", [AutoNormal, AutoLowRankMultivariateNormal])
def test_autoguides_train_under_fit_and_resume_exactly(guide_cls, tmp_path):
    x, y = _regression_data()
    data = torch.cat([x, y[:, None]], 1)

    class Wrapped(BayesianRegression):
        def model(self, data):
            return BayesianRegression.forward(self, data[:, :3], data[:, 3])

    def build():
        torch.manual_seed(0)
        m = Wrapped()
        m.guide = guide_cls(m.model)
        return m

    finals = []
    for split in (None, 3):
        m = build()
        out = tmp_path / f"{guide_cls.__name__}_{split}"
        if split is not None:
            fit(SVITrainer(m, lr=0.03), data, epochs=split, batch_size=50, out=out)
            m = build()
        trainer = SVITrainer(m, lr=0.03)
        fit(trainer, data, epochs=8, batch_size=50, out=out, progress=False)
        guide_params = dict(m.guide.named_parameters())
        assert guide_params, "the AutoGuide created no parameter"
        finals.append({k: v.detach().clone() for k, v in guide_params.items()})
        loaded = torch.load(out / "checkpoint.pt", weights_only=True)["stepper"]["module"]
        assert any(k.startswith("guide.") for k in loaded)
    for k in finals[0]:
        torch.testing.assert_close(finals[0][k], finals[1][k], msg=k)


def test_bayesian_layer_recovers_the_regression_weights():
    x, y = _regression_data()
    m = BayesianRegression()
    m.guide = AutoNormal(m.model)
    trainer = SVITrainer(m, lr=0.05)
    for _ in range(600):
        trainer.step(x, y)
    w = m.guide.median()["linear.weight"].reshape(-1)
    torch.testing.assert_close(w, torch.tensor([1.5, -2.0, 0.5]), atol=0.1, rtol=0)
