import math

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.infer import SVITrainer
from pyrogen.models import FlowDensity
from pyrogen.transforms import ActNorm


def test_log_prob_is_the_change_of_variables_of_an_affine_flow():
    """x = z exp(s) + b with z ~ N(0, I) is N(b, exp(2 s)) exactly."""
    layer = ActNorm(2, data_init=False)
    with torch.no_grad():
        layer.log_scale.copy_(torch.tensor([0.5, -1.0]))
        layer.bias.copy_(torch.tensor([2.0, -3.0]))
    m = FlowDensity((2,), transforms=[layer])
    x = torch.randn(7, 2)
    expected = torch.distributions.Normal(layer.bias, layer.log_scale.exp()).log_prob(x).sum(-1)
    assert torch.allclose(m.log_prob(x), expected)


@pytest.mark.parametrize("flow", ["maf", "iaf", "realnvp", "nice", "planar", "radial"])
def test_trace_elbo_with_the_empty_guide_is_the_negative_log_likelihood(flow):
    torch.manual_seed(0)
    m = FlowDensity((3,), flow=flow, num_layers=2, hidden=(8,))
    x = torch.randn(5, 3)
    loss = Trace_ELBO().differentiable_loss(m.model, m.guide, x)
    assert torch.allclose(loss, -m.log_prob(x).sum(), atol=1e-4)
    tr = pyro.poutine.trace(m.model).get_trace(x)
    assert tr.nodes["x"]["is_observed"]
    assert [f.name for f in tr.nodes["x"]["cond_indep_stack"]] == ["data"]
    assert m.sample(4).shape == (4, 3)


def test_dequantized_density_integrates_to_the_bin_probability():
    """With no learned layers, y = 2 sigmoid(z): P(x = 0) = P(y < 1) = 1/2, and
    E_u[p(0 + u)] = integral of p over the bin = 1/2 (the bound is tight in expectation)."""
    torch.manual_seed(0)
    m = FlowDensity((1,), transforms=[], dequantize=2)
    x = torch.zeros(4000, 1)
    p = m.log_prob(x).exp()
    assert abs(float(p.mean()) - 0.5) < 0.02
    # Jensen: the per-draw bound E_u log p <= log P(x = 0) = log 1/2, i.e. >= 1 bit/dim.
    bpd = m.bits_per_dim(x, num_samples=2)
    assert bpd.shape == (4000,) and float(bpd.mean()) > 1.0


def test_bits_per_dim_and_image_shapes():
    torch.manual_seed(0)
    m = FlowDensity((1, 2, 2), flow="realnvp", num_layers=2, hidden=(8,), dequantize=256)
    x = torch.randint(0, 256, (3, 1, 2, 2)).float() / 255
    torch.manual_seed(1)
    lp = m.log_prob(x)
    torch.manual_seed(1)
    assert torch.allclose(m.bits_per_dim(x), -lp / (4 * math.log(2)))
    s = m.sample(5)
    assert s.shape == (5, 1, 2, 2) and ((s * 255).round() == s * 255).all()


def test_maximum_likelihood_learns_a_correlated_gaussian():
    """A MAF fit by SVI reaches the entropy of the data distribution (its optimum)."""
    torch.manual_seed(0)
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]])
    target = torch.distributions.MultivariateNormal(torch.tensor([1.0, -1.0]), cov)
    data = target.sample((1000,))
    m = FlowDensity((2,), flow="maf", num_layers=2, hidden=(16,))
    trainer = SVITrainer(m, lr=1e-2)
    for _ in range(200):
        trainer.step(data[torch.randint(0, 1000, (100,))])
    with torch.no_grad():
        nll = -float(m.log_prob(data).mean())
    assert abs(nll - float(target.entropy())) < 0.08


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown flow 'glowy'"):
        FlowDensity((2,), flow="glowy")
    m = FlowDensity((1, 2, 2), flow="nice", num_layers=1, hidden=(4,), dequantize=256)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        m.model(torch.full((2, 1, 2, 2), 3.0))
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 2, 2\)"):
        m.log_prob(torch.zeros(2, 4))


@pytest.mark.parametrize("flow", ["maf", "planar"])
def test_full_batch_training_never_reuses_a_stale_inverse(flow):
    """The same data tensor in every step: each step must recompute f^{-1}(x) with the
    current parameters (a remembered (x, y) pair would be stale and its graph freed)."""
    torch.manual_seed(0)
    m = FlowDensity((2,), flow=flow, num_layers=2, hidden=(8,))
    x = torch.randn(64, 2) * 2 + 1
    trainer = SVITrainer(m, lr=1e-2)
    losses = [float(trainer.step(x)["loss"]) for _ in range(5)]
    with torch.no_grad():
        expected = -float(m.log_prob(x).mean())
    assert losses[-1] < losses[0]
    assert abs(float(trainer.evaluate(x)["loss"]) - expected) < 1e-5
