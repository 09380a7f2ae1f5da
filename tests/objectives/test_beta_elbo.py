import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.models import VAE
from pyrogen.objectives import BetaELBO, LinearCapacity


def _loss_and_grads(vae, loss, x, seed=0):
    pyro.set_rng_seed(seed)
    value = loss.differentiable_loss(vae.model, vae.guide, x)
    grads = torch.autograd.grad(value, list(vae.parameters()))
    return value.detach(), grads


@pytest.mark.parametrize("capacity", [None, 0.0])
def test_beta_one_and_zero_capacity_equal_trace_elbo(capacity):
    """beta = 1 (and gamma = 1, C = 0 with a positive batch KL) is Trace_ELBO: value and grad."""
    torch.manual_seed(0)
    vae = VAE((6,), z_dim=3, hidden=(8,))
    x = torch.rand(16, 6).bernoulli()
    ours, g_ours = _loss_and_grads(vae, BetaELBO(beta=1.0, capacity=capacity), x)
    ref, g_ref = _loss_and_grads(vae, Trace_ELBO(), x)
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-5)
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_beta_weights_the_kl_estimate():
    """loss(beta) = -log p(x|z) + beta * KL at a fixed draw: linear in beta with slope KL."""
    vae = VAE((5,), z_dim=2, hidden=(8,))
    x = torch.rand(7, 5).bernoulli()
    values = {}
    for beta in (0.0, 1.0, 4.0):
        pyro.set_rng_seed(3)
        values[beta] = BetaELBO(beta=beta).loss(vae.model, vae.guide, x)
    kl = values[1.0] - values[0.0]
    assert values[4.0] == pytest.approx(values[0.0] + 4.0 * kl, rel=1e-5)
    # The slope is the single-sample KL estimate: log q(z|x) - log p(z) at the same z.
    pyro.set_rng_seed(3)
    guide_tr = pyro.poutine.trace(vae.guide).get_trace(x)
    model_tr = pyro.poutine.trace(pyro.poutine.replay(vae.model, guide_tr)).get_trace(x)
    z_kl = (
        guide_tr.log_prob_sum()
        - model_tr.nodes["z"]["fn"].log_prob(model_tr.nodes["z"]["value"]).sum()
    )
    assert kl == pytest.approx(float(z_kl.detach()), rel=1e-4)


def test_capacity_penalty_is_absolute_deviation_from_target():
    """-E log p + gamma * N * |KL/N - C|: the penalty flips sign when C exceeds the KL."""
    vae = VAE((5,), z_dim=2, hidden=(8,))
    x = torch.rand(8, 5).bernoulli()
    pyro.set_rng_seed(1)
    elbo = BetaELBO(beta=0.0)
    recon = elbo.loss(vae.model, vae.guide, x)
    kl = elbo.last_terms["kl_per_example"]
    for c in (0.0, kl / 2, 3 * kl):
        pyro.set_rng_seed(1)
        value = BetaELBO(beta=2.0, capacity=c).loss(vae.model, vae.guide, x)
        assert value == pytest.approx(recon + 2.0 * 8 * abs(kl - c), rel=1e-4)


def test_capacity_schedule_advances_only_on_training_steps():
    schedule = LinearCapacity(c_max=10.0, num_steps=4)
    assert [schedule(t) for t in (0, 2, 4, 8)] == [0.0, 5.0, 10.0, 10.0]
    vae = VAE((5,), z_dim=2, hidden=(8,))
    x = torch.rand(4, 5).bernoulli()
    elbo = BetaELBO(beta=1.0, capacity=schedule)
    elbo.loss(vae.model, vae.guide, x)
    assert elbo.num_steps == 0
    elbo.differentiable_loss(vae.model, vae.guide, x).backward()
    elbo.differentiable_loss(vae.model, vae.guide, x).backward()
    assert elbo.num_steps == 2 and elbo.current_capacity() == 5.0
    state = elbo.state_dict()
    fresh = BetaELBO(beta=1.0, capacity=schedule)
    fresh.load_state_dict(state)
    assert fresh.current_capacity() == 5.0


def test_bad_arguments_fail_fast():
    with pytest.raises(ValueError, match="beta must be >= 0"):
        BetaELBO(beta=-1.0)
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        BetaELBO(capacity=-2.0)
    with pytest.raises(TypeError, match="capacity must be None"):
        BetaELBO(capacity="high")
    with pytest.raises(ValueError, match="num_steps > 0"):
        LinearCapacity(1.0, 0)
