"""fit trains conditional models and streamed data exactly: a regression weight learned
through (x, y) batches, a Dataset equal to the same data in memory, exact resume with
streamed data."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pyrogen.infer import fit

W_TRUE, BIAS, SIGMA = torch.tensor([1.5, -2.0, 0.5]), 0.7, 0.3


class LinearGaussian(nn.Module):
    r"""y | x, z ~ N(w.x + b + c z, s^2), z ~ N(0, 1); guide q(z | x, y) = N(a y + u.x + e,
    e^t), a family that holds the exact posterior. Marginally y | x ~ N(w.x + b, c^2 + s^2)."""

    def __init__(self, dim=3):
        super().__init__()
        self.w, self.u = nn.Parameter(torch.zeros(dim)), nn.Parameter(torch.zeros(dim))
        self.b, self.log_s, self.a, self.e, self.t = (
            nn.Parameter(torch.tensor(0.0)) for _ in range(5)
        )
        self.c = nn.Parameter(torch.tensor(0.5))

    def model(self, x, y):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            loc = x @ self.w + self.b + self.c * z
            pyro.sample("y", dist.Normal(loc, self.log_s.exp()), obs=y)

    def guide(self, x, y):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.a * y + x @ self.u + self.e, self.t.exp()))


class ConditionalSVI:
    """Minimizes -ELBO per example of model(x, y) with Adam, the step size decaying 2% a step."""

    def __init__(self, module, lr=0.1):
        self.module = module
        self.optim = torch.optim.Adam(module.parameters(), lr=lr)
        self.schedule = torch.optim.lr_scheduler.ExponentialLR(self.optim, gamma=0.98)
        self.elbo = Trace_ELBO()

    def _loss(self, x, y):
        m = self.module
        return self.elbo.differentiable_loss(m.model, m.guide, x, y) / x.shape[0]

    def step(self, x, y):
        self.optim.zero_grad()
        loss = self._loss(x, y)
        loss.backward()
        self.optim.step()
        self.schedule.step()
        return {"loss": loss.detach()}

    def evaluate(self, x, y):
        with torch.no_grad():
            return {"loss": self._loss(x, y)}

    def state_dict(self):
        return {
            "module": self.module.state_dict(),
            "optim": self.optim.state_dict(),
            "schedule": self.schedule.state_dict(),
        }

    def load_state_dict(self, state):
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
        self.schedule.load_state_dict(state["schedule"])


def _regression(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ W_TRUE + BIAS + SIGMA * torch.randn(n, generator=g)


def test_a_conditional_model_learns_the_regression_weight():
    """fit(stepper, (x, y)) trains model(x, y): w within 5 standard errors (sigma / sqrt(N)
    = 0.0095) of the true weight (at most 3 over 20 seeds); with rows of x and y decoupled,
    w would be 0."""
    n = 1000
    x, y = _regression(n)
    torch.manual_seed(0)
    stepper = ConditionalSVI(LinearGaussian())
    history = fit(stepper, (x, y), epochs=10, batch_size=100, progress=False, device="cpu")
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    err = (stepper.module.w.detach() - W_TRUE).abs().max()
    assert err < 5 * SIGMA / n**0.5, stepper.module.w


class _Pairs(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_a_dataset_trains_exactly_as_the_same_data_in_memory():
    """Same batches and same random draws of the model: the Dataset path leaves the global
    random state to the model, as the in-memory path does."""
    x, y = _regression(120)
    weights = []
    for data in [(x, y), _Pairs(x, y)]:
        pyro.set_rng_seed(0)
        stepper = ConditionalSVI(LinearGaussian())
        fit(stepper, data, epochs=2, batch_size=32, progress=False, seed=2, device="cpu")
        weights.append(_params(stepper.module))
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("kind", ["dataset", "shuffled_dataloader"])
def test_resume_with_streamed_data_is_exact(tmp_path, kind):
    """2 epochs, then a fresh stepper resuming for 2 more, equals 4 epochs straight: the same
    batches and the same random draws of z, hence the same weights bit for bit."""
    x, y = _regression(200)

    def data():
        if kind == "dataset":
            return _Pairs(x, y), 40
        return DataLoader(_Pairs(x, y), batch_size=40, shuffle=True), None

    def run(init_seed, epochs, out):
        torch.manual_seed(init_seed)
        stepper = ConditionalSVI(LinearGaussian())
        stream, bs = data()
        kw = dict(batch_size=bs, out=out, progress=False, seed=3, device="cpu")
        return stepper, fit(stepper, stream, epochs=epochs, **kw)

    straight, full = run(0, 4, tmp_path / "a")
    run(0, 2, tmp_path / "b")
    resumed, history = run(99, 4, tmp_path / "b")  # other initial weights: all restored
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in full]
    a, b = _params(straight.module), _params(resumed.module)
    assert all(torch.equal(a[k], b[k]) for k in a), {k: (a[k], b[k]) for k in a}
