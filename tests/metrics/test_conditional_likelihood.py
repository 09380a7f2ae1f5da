"""log_likelihood with extra model arguments (log p(x | y)), enumerated and prior-drawn model
sites, and global latents (posterior predictive), each against a closed form."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrogen.metrics import log_likelihood

D, K, C, SIGMA = 4, 2, 3, 0.7


def _params():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(D, K, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(C, D, generator=g, dtype=torch.float64)  # one offset per class
    return w, b


def _model(w, b):
    """z ~ N(0, I), x | z, y ~ N(W z + b_y, sigma^2 I)."""

    def model(x, y):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(K, dtype=x.dtype), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ w.T + b[y], SIGMA).to_event(1), obs=x)

    return model


def _exact_guide(w, b):
    # p(z | x, y) = N(S W^T (x - b_y) / sigma^2, S),  S = (I + W^T W / sigma^2)^-1
    cov = torch.linalg.inv(torch.eye(K, dtype=w.dtype) + w.T @ w / SIGMA**2)
    tril = torch.linalg.cholesky(cov)

    def guide(x, y):
        loc = (x - b[y]) @ w @ cov.T / SIGMA**2
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.MultivariateNormal(loc, scale_tril=tril))

    return guide


def _evidence(w, b, x, y):
    """log p(x | y) = log N(x | b_y, W W^T + sigma^2 I)."""
    cov = w @ w.T + SIGMA**2 * torch.eye(D, dtype=w.dtype)
    return dist.MultivariateNormal(b[y], covariance_matrix=cov).log_prob(x)


def _data(n=7):
    """Draws of the model: y uniform, x ~ p(x | y)."""
    w, b = _params()
    g = torch.Generator().manual_seed(1)
    y = torch.randint(C, (n,), generator=g)
    z = torch.randn(n, K, generator=g, dtype=torch.float64)
    return z @ w.T + b[y] + SIGMA * torch.randn(n, D, generator=g, dtype=torch.float64), y


def test_exact_conditional_guide_gives_the_conditional_evidence():
    """With q = p(z | x, y) every weight is p(x | y): exact for any S, batching, chunking;
    rows of y that did not travel with their x (or a y left out) would miss it by nats."""
    w, b = _params()
    x, y = _data()
    model, guide = _model(w, b), _exact_guide(w, b)
    est = log_likelihood(model, guide, x, num_samples=7, batch_size=2, chunk_size=3, args=(y,))
    torch.testing.assert_close(est, _evidence(w, b, x, y), atol=1e-9, rtol=0)
    by_name = log_likelihood(model, guide, x, num_samples=3, batch_size=3, kwargs={"y": y})
    torch.testing.assert_close(by_name, _evidence(w, b, x, y), atol=1e-9, rtol=0)
    # the labels matter: the same images under other labels have another likelihood
    other = (y + 1) % C
    assert (_evidence(w, b, x, other) - est).abs().mean() > 1.0


def test_prior_proposal_converges_to_the_conditional_evidence():
    w, b = _params()
    x, y = _data(3)

    def prior_guide(x, y):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(torch.zeros(K, dtype=x.dtype), 1.0).to_event(1))

    est = log_likelihood(
        _model(w, b), prior_guide, x, num_samples=20000, chunk_size=5000, args=(y,)
    )
    assert (est - _evidence(w, b, x, y)).abs().max() < 0.1  # at most 0.06 over 20 seeds


def test_module_form_passes_the_labels():
    w, b = _params()
    x, y = _data()

    class Pair:
        model, guide = staticmethod(_model(w, b)), staticmethod(_exact_guide(w, b))

    est = log_likelihood(Pair(), x, num_samples=2, args=(y,))
    torch.testing.assert_close(est, _evidence(w, b, x, y), atol=1e-9, rtol=0)


def test_extra_arguments_need_one_row_per_example():
    w, b = _params()
    x, y = _data()
    with pytest.raises(ValueError, match=r"one row per example of x \(7 rows\); args\[0\] is"):
        log_likelihood(_model(w, b), _exact_guide(w, b), x, args=(y[:3],))
    with pytest.raises(ValueError, match=r"kwargs\['y'\] is \(\)"):
        log_likelihood(_model(w, b), _exact_guide(w, b), x, kwargs={"y": torch.tensor(1)})


# A mixture prior: c ~ Categorical(pi), z | c ~ N(mu_c, 1), x | z ~ N(z, s^2), so
# p(x) = sum_c pi_c N(x | mu_c, 1 + s^2). The guide q(z | x) has no site for c.
PI = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
MU = torch.tensor([-3.0, 0.0, 2.5], dtype=torch.float64)
S = 0.5


def _mixture_model(enumerate_c):
    infer = {"enumerate": "parallel"} if enumerate_c else {}

    def model(x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Categorical(PI), infer=infer)
            z = pyro.sample("z", dist.Normal(MU[c], 1.0))
            pyro.sample("x", dist.Normal(z, S), obs=x)

    return model


def _mixture_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(x / (1 + S**2), 1.2))


def _mixture_evidence(x):
    comps = dist.Normal(MU, math.sqrt(1 + S**2)).log_prob(x.unsqueeze(-1))
    return torch.logsumexp(comps + PI.log(), -1)


X_MIX = torch.tensor([-3.5, -1.0, 0.3, 2.0, 4.0], dtype=torch.float64)


def test_enumerated_component_is_summed_out():
    """c marked for enumeration: log p(x, z) = log sum_c p(c) p(z|c) p(x|z) exactly, so the
    estimate converges to the mixture evidence (keeping log p(c) of a c drawn from the
    prior instead would be off by about E[log pi_c], a nat)."""
    est = log_likelihood(
        _mixture_model(True), _mixture_guide, X_MIX, num_samples=20000, chunk_size=5000
    )
    assert (est - _mixture_evidence(X_MIX)).abs().max() < 0.03


def test_enumeration_is_exact_when_the_guide_is():
    """q(z | x) = p(z | x) of a one-component mixture: every weight is p(x)."""
    pi, mu = torch.ones(1, dtype=torch.float64), torch.tensor([1.5], dtype=torch.float64)

    def model(x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Categorical(pi), infer={"enumerate": "parallel"})
            z = pyro.sample("z", dist.Normal(mu[c], 1.0))
            pyro.sample("x", dist.Normal(z, S), obs=x)

    def guide(x):  # p(z | x) = N((mu s^2 + x) / (1 + s^2), s^2 / (1 + s^2))
        with pyro.plate("data", x.shape[0]):
            loc = (1.5 * S**2 + x) / (1 + S**2)
            pyro.sample("z", dist.Normal(loc, S / math.sqrt(1 + S**2)))

    est = log_likelihood(model, guide, X_MIX, num_samples=3, chunk_size=2)
    exact = dist.Normal(mu, math.sqrt(1 + S**2)).log_prob(X_MIX)
    torch.testing.assert_close(est, exact, atol=1e-9, rtol=0)


def test_model_site_left_to_its_prior_cancels():
    """c not marked: drawn from its prior, which is then its proposal, so p(c) / p(c)
    cancels and the estimate still converges to the evidence."""
    est = log_likelihood(
        _mixture_model(False), _mixture_guide, X_MIX, num_samples=60000, chunk_size=20000
    )
    assert (est - _mixture_evidence(X_MIX)).abs().max() < 0.05


# Global latent: theta ~ N(0, 1), x_n | theta, y_n ~ N(theta + b_{y_n}, 1), q(theta) = N(m, s^2)
# gives the posterior predictive p(x_n | y_n) = N(x_n | m + b_{y_n}, 1 + s^2).
B1 = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
M, SD = 0.4, 0.3


def _global_model(x, y):
    theta = pyro.sample("theta", dist.Normal(torch.zeros((), dtype=x.dtype), 1.0))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("x", dist.Normal(theta + B1[y], 1.0), obs=x)


def _global_guide(x, y):
    pyro.sample("theta", dist.Normal(torch.tensor(M, dtype=x.dtype), SD))


def test_global_latents_are_refused_by_default():
    x, y = X_MIX, torch.tensor([0, 1, 2, 1, 0])
    with pytest.raises(ValueError, match="'theta' are outside it.*global_latents='posterior'"):
        log_likelihood(_global_model, _global_guide, x, num_samples=2, args=(y,))


def test_global_latents_give_the_posterior_predictive():
    x = torch.tensor([-2.5, 0.3, 3.2, -0.4, -1.0], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    est = log_likelihood(
        _global_model, _global_guide, x, num_samples=4000, args=(y,), global_latents="posterior"
    )
    exact = dist.Normal(M + B1[y], math.sqrt(1 + SD**2)).log_prob(x)
    assert (est - exact).abs().max() < 0.03
    # the plain log p(x | y) under the prior on theta is another number
    prior = dist.Normal(B1[y], math.sqrt(2.0)).log_prob(x)
    assert (prior - exact).abs().max() > 0.3


def test_global_and_local_latents():
    """theta global, z_n local: x_n | z_n, theta ~ N(theta + z_n, 1), z_n ~ N(0, 1), with the
    exact local guide q(z_n | x_n, theta): each draw's weight is p(x_n | theta) = N(theta, 2),
    and the average over q(theta) is N(x_n | m, 2 + s^2)."""

    def model(x):
        theta = pyro.sample("theta", dist.Normal(torch.zeros((), dtype=x.dtype), 1.0))
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0))
            pyro.sample("x", dist.Normal(theta + z, 1.0), obs=x)

    def guide(x):
        theta = pyro.sample("theta", dist.Normal(torch.tensor(M, dtype=x.dtype), SD))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal((x - theta) / 2, math.sqrt(0.5)))

    est = log_likelihood(model, guide, X_MIX, num_samples=4000, global_latents="posterior")
    exact = dist.Normal(M, math.sqrt(2 + SD**2)).log_prob(X_MIX)
    assert (est - exact).abs().max() < 0.03
