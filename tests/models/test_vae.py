import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.models import VAE


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous_bernoulli", "gaussian"])
def test_vae_contract_shapes(arch, likelihood):
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,), likelihood=likelihood, arch=arch)
    x = torch.rand(5, 1, 8, 8)
    if likelihood == "bernoulli":
        x = x.bernoulli()
    loc, scale = vae.encode(x)
    assert loc.shape == scale.shape == (5, 3)
    assert (scale > 0).all()
    assert vae.sample(4).shape == (4, 1, 8, 8)
    assert vae.reconstruct(x).shape == x.shape
    loss = Trace_ELBO().loss(vae.model, vae.guide, x)
    assert torch.isfinite(torch.tensor(loss))


def test_vae_site_names_and_plate():
    vae = VAE((4,), z_dim=2, hidden=(8,))
    x = torch.rand(3, 4).bernoulli()
    guide_tr = pyro.poutine.trace(vae.guide).get_trace(x)
    model_tr = pyro.poutine.trace(pyro.poutine.replay(vae.model, guide_tr)).get_trace(x)
    assert model_tr.nodes["x"]["is_observed"]
    assert model_tr.nodes["z"]["value"] is guide_tr.nodes["z"]["value"]
    frames = model_tr.nodes["x"]["cond_indep_stack"]
    assert [(f.name, f.dim, f.size) for f in frames] == [("data", -1, 3)]


def test_elbo_matches_hand_computation():
    """Trace_ELBO of the VAE equals E_q[log p(x|z) + log p(z) - log q(z|x)] computed by hand."""
    torch.manual_seed(0)
    vae = VAE((6,), z_dim=2, hidden=(8,))
    x = torch.rand(4, 6).bernoulli()
    guide_tr = pyro.poutine.trace(vae.guide).get_trace(x)
    z = guide_tr.nodes["z"]["value"]
    model_tr = pyro.poutine.trace(pyro.poutine.replay(vae.model, guide_tr)).get_trace(x)
    loc, scale = vae.encode(x)
    logits = vae.decode(z)
    log_px = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum()
    log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum()
    log_qz = torch.distributions.Normal(loc, scale).log_prob(z).sum()
    expected = log_px + log_pz - log_qz
    actual = model_tr.log_prob_sum() - guide_tr.log_prob_sum()
    assert torch.allclose(actual, expected, atol=1e-4)


def test_bad_inputs_have_clear_errors():
    vae = VAE((1, 8, 8), z_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 8, 8\), got \(5, 64\)"):
        vae.guide(torch.zeros(5, 64))
    nan = torch.zeros(2, 1, 8, 8)
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        vae.guide(nan)
    with pytest.raises(ValueError, match="binary"):
        vae.guide(torch.full((2, 1, 8, 8), 0.5))
    with pytest.raises(ValueError, match="likelihood"):
        VAE((4,), likelihood="poisson")
