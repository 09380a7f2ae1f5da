"""Shared fixtures: a clean Pyro state per test, the statistical tests' seeds, and small
conjugate models with closed-form posteriors, marginals and ELBOs (float64) for the tests
of objectives (tests/objectives) and of their fast implementations (tests/infer)."""

import math
import os

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

# Tests run single-threaded so several test processes and the 2-core CI machine do not
# oversubscribe; set before any work is done.
torch.set_num_threads(int(os.environ.get("PYROGEN_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _fresh_pyro_state():
    """Every test starts from a clean global state and local module parameters."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    with pyro.settings.context(module_local_params=True):
        yield


SWEEP_SEEDS = 20


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``stat_seed`` is a statistical test: the default run draws its data with
    seed 0 only; ``pytest -m slow`` runs the by-hand sweep over seeds 0..19, which it must pass
    at its sample size (each statistical test is sized so that it does)."""
    if "stat_seed" in metafunc.fixturenames:
        sweep = [
            pytest.param(s, marks=pytest.mark.slow, id=f"sweep{s}") for s in range(SWEEP_SEEDS)
        ]
        metafunc.parametrize("stat_seed", [pytest.param(0, id="seed0"), *sweep])


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``cuda`` are collected on every machine, so a typo in them fails
    collection everywhere. Without a CUDA device they are reported as *skipped: not
    applicable*, never as passed: a green CPU run says nothing about the GPU, and the summary
    line (``-ra``) says so. This is the one deliberate skip of the suite; on a machine with a
    GPU they run (``pytest -m cuda``, or ``bash benchmarks/gpu_check.sh``)."""
    if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.skip("not applicable: no CUDA device")


# Small conjugate models with closed-form posteriors, marginals and ELBOs (float64).


def _p(value: float) -> nn.Parameter:
    return nn.Parameter(torch.tensor(value, dtype=torch.float64))


class Chain(nn.Module):
    r"""z2 ~ N(0, 1), z1 | z2 ~ N(theta z2, 1), x | z1 ~ N(z1, 1); per example in plate "data".

    Guide q(z1 | x) = N(a1 x + b1, e^{s1}), q(z2 | z1) = N(a2 z1 + b2, e^{s2}): the family
    holds the exact posterior p(z1 | x) p(z2 | z1), and log p(x) = log N(x; 0, 2 + theta^2).
    """

    def __init__(self):
        super().__init__()
        self.theta = _p(0.8)
        self.a1, self.b1, self.s1 = _p(0.3), _p(0.2), _p(-0.5)
        self.a2, self.b2, self.s2 = _p(0.1), _p(-0.3), _p(-0.2)

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z2 = pyro.sample("z2", dist.Normal(torch.zeros_like(x), 1.0))
            z1 = pyro.sample("z1", dist.Normal(self.theta * z2, 1.0))
            pyro.sample("x", dist.Normal(z1, 1.0), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            z1 = pyro.sample("z1", dist.Normal(self.a1 * x + self.b1, self.s1.exp()))
            pyro.sample("z2", dist.Normal(self.a2 * z1 + self.b2, self.s2.exp()))

    def guide_params(self):
        return [self.a1, self.b1, self.s1, self.a2, self.b2, self.s2]

    @torch.no_grad()
    def set_exact_posterior(self):
        t2 = float(self.theta) ** 2
        self.a1.fill_((1 + t2) / (2 + t2))
        self.b1.fill_(0.0)
        self.s1.fill_(math.log(((1 + t2) / (2 + t2)) ** 0.5))
        self.a2.fill_(float(self.theta) / (1 + t2))
        self.b2.fill_(0.0)
        self.s2.fill_(math.log((1 / (1 + t2)) ** 0.5))

    def log_marginal(self, x):
        return dist.Normal(0.0, (2 + self.theta**2).sqrt()).log_prob(x)


class Conjugate(nn.Module):
    r"""z ~ N(0, 1), x | z ~ N(w z, 1); guide q(z | x) = N(a x + b, e^{2 s}).

    ``elbo(x)`` is the ELBO in closed form, so autograd of it is the exact gradient.
    """

    def __init__(self):
        super().__init__()
        self.w, self.a, self.b, self.s = _p(1.3), _p(0.2), _p(0.4), _p(-0.3)

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0))
            pyro.sample("x", dist.Normal(self.w * z, 1.0), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.a * x + self.b, self.s.exp()))

    def guide_params(self):
        return [self.a, self.b, self.s]

    def elbo(self, x):
        m, v = self.a * x + self.b, (2 * self.s).exp()
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        lik = -half_log_2pi - 0.5 * ((x - self.w * m) ** 2 + self.w**2 * v)
        prior = -half_log_2pi - 0.5 * (m**2 + v)
        entropy = 0.5 * math.log(2 * math.pi * math.e) + self.s
        return (lik + prior + entropy).sum()

    @torch.no_grad()
    def set_exact_posterior(self):
        w2 = float(self.w) ** 2
        self.a.fill_(float(self.w) / (1 + w2))
        self.b.fill_(0.0)
        self.s.fill_(0.5 * math.log(1 / (1 + w2)))


class Coin(nn.Module):
    r"""z ~ Bernoulli(sigmoid(c)), x | z ~ N(2z - 1, 1); guide q(z | x) = Bernoulli(sigmoid(a x
    + b)). Expectations over z are finite sums, so ELBO and L_K have exact gradients."""

    def __init__(self):
        super().__init__()
        self.c, self.a, self.b = _p(0.3), _p(0.5), _p(-0.2)

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Bernoulli(logits=self.c.expand(x.shape)))
            pyro.sample("x", dist.Normal(2 * z - 1, 1.0), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Bernoulli(logits=self.a * x + self.b))

    def log_w(self, x, z):
        """log p(x, z) - log q(z | x) for z broadcast against x."""
        prior = dist.Bernoulli(logits=self.c).log_prob(z)
        lik = dist.Normal(2 * z - 1, 1.0).log_prob(x)
        return prior + lik - dist.Bernoulli(logits=self.a * x + self.b).log_prob(z)

    def bound(self, x, k):
        """Exact E[log (1/K) sum_k w_k] by enumerating the 2^K joint values of z_1..z_K."""
        total = torch.zeros((), dtype=torch.float64)
        q1 = torch.sigmoid(self.a * x + self.b)
        for bits in range(2**k):
            zs = [float((bits >> i) & 1) for i in range(k)]
            pq = torch.ones_like(x)
            lws = []
            for z in zs:
                pq = pq * (q1 if z else 1 - q1)
                lws.append(self.log_w(x, torch.full_like(x, z)))
            lse = torch.logsumexp(torch.stack(lws), 0) - math.log(k)
            total = total + (pq * lse).sum()
        return total


@pytest.fixture
def chain():
    return Chain()


@pytest.fixture
def conjugate():
    return Conjugate()


@pytest.fixture
def coin():
    return Coin()


def mc_gradient(loss, module, x, params, calls=32):
    """Mean over ``calls`` of d loss / d params (each call sums over the rows of x), and the
    standard error of that mean.

    The standard error is itself estimated from ``calls`` draws, so a check at 5 standard
    errors is a t test with ``calls - 1`` degrees of freedom: with 8 calls a correct
    estimator misses it with probability 1.6e-3 per parameter (t_7), with 32 calls 2e-5
    (t_31), which lets the tests that compare several parameters pass on every seed."""
    draws = []
    for _ in range(calls):
        value = loss.differentiable_loss(module.model, module.guide, x)
        draws.append(torch.stack(torch.autograd.grad(value, params)))
    g = torch.stack(draws)
    return g.mean(0), g.std(0) / calls**0.5


@pytest.fixture
def mc():
    return mc_gradient


def _value_and_grads(module, fn, seed):
    module.zero_grad()
    pyro.set_rng_seed(seed)
    loss = fn()
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in module.named_parameters()}


def assert_same_value_and_grads(module, slow, fast, seed=5):
    """``slow()`` and ``fast()`` (two evaluations of one objective on ``module``), each run
    from the same random state, give the same value (1e-10) and gradients (1e-8)."""
    v1, g1 = _value_and_grads(module, slow, seed)
    v2, g2 = _value_and_grads(module, fast, seed)
    assert torch.allclose(v1, v2, rtol=1e-10, atol=1e-9), (v1, v2)
    for k in g1:
        assert torch.allclose(g1[k], g2[k], rtol=1e-8, atol=1e-10), k


@pytest.fixture
def same_draws():
    return assert_same_value_and_grads
