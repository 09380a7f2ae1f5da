import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrogen.infer.em import GradientEM
from pyrogen.models import GaussianMixture


def _data():
    gen = torch.Generator().manual_seed(0)
    return torch.cat(
        [
            torch.randn(30, 1, generator=gen, dtype=torch.float64) - 3,
            1.5 * torch.randn(50, 1, generator=gen, dtype=torch.float64) + 3,
        ]
    )


def test_gradient_m_step_reaches_the_closed_form_m_step():
    x = _data()
    gmm = GaussianMixture(2, 1).double()
    gmm.initialize(x)
    reference = GaussianMixture(2, 1).double()
    reference.load_state_dict(gmm.state_dict())
    reference.m_step(x, reference.posterior(x).detach())
    em = GradientEM(gmm.model, gmm.parameters(), m_steps=100, lr=0.1)
    after = float(em.step(x)["log_lik"])
    with torch.no_grad():
        assert after == pytest.approx(float(reference.log_likelihood(x).sum()), abs=1e-2)
        assert torch.allclose(gmm.locs, reference.locs, atol=1e-2)
        assert torch.allclose(gmm.weights, reference.weights, atol=1e-2)
        assert torch.allclose(gmm.covariances, reference.covariances, atol=1e-2)


def test_gradient_em_never_decreases_the_likelihood():
    x = _data()
    gmm = GaussianMixture(2, 1).double()
    # A deliberately large learning rate: overshooting steps must be rejected.
    em = GradientEM(gmm.model, gmm.parameters(), m_steps=5, lr=2.0)
    history = [em.log_likelihood(x)] + [float(em.step(x)["log_lik"]) for _ in range(8)]
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:]))
    assert history[-1] > history[0]


def test_gradient_em_on_a_model_written_with_pyro_params():
    """A two-coin mixture over Bernoulli counts, not a GaussianMixture: generic Pyro syntax."""
    gen = torch.Generator().manual_seed(0)
    heads = torch.cat(
        [
            torch.binomial(torch.full((40,), 10.0), torch.full((40,), p), generator=gen)
            for p in (0.2, 0.8)
        ]
    ).double()
    logits = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor([-0.5, 0.5], dtype=torch.float64, requires_grad=True)

    def model(h):
        with pyro.plate("data", h.shape[0]):
            c = pyro.sample("coin", dist.Categorical(logits=logits))
            pyro.sample("h", dist.Binomial(10, logits=bias[c]), obs=h)

    em = GradientEM(model, [logits, bias], m_steps=15, lr=0.2)
    history = [float(em.step(heads)["log_lik"]) for _ in range(10)]
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:]))
    probs = torch.sigmoid(bias).sort().values
    assert torch.allclose(probs, torch.tensor([0.2, 0.8], dtype=torch.float64), atol=0.05)


def test_continuous_latent_is_rejected():
    loc = torch.zeros((), requires_grad=True)

    def model(x):
        z = pyro.sample("z", dist.Normal(loc, 1.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    em = GradientEM(model, [loc])
    with pytest.raises(ValueError, match="site 'z' is Normal"):
        em.step(torch.zeros(3))
