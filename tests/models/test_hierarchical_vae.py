import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyrogen.metrics import log_likelihood
from pyrogen.models import HierarchicalVAE, LadderVAE
from pyrogen.models.ladder_vae import precision_weighted
from pyrogen.objectives import IWAE_ELBO

MODELS = [
    lambda: HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,)),
    lambda: HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,), inference="factorized"),
    lambda: HierarchicalVAE((1, 8, 8), z_dims=(5,), hidden=((12, 12),)),
    lambda: LadderVAE((1, 8, 8), z_dims=(6, 4, 2), hidden=(16,)),
]
IDS = ["chain", "factorized", "one_layer", "ladder3"]


def _x(n=5):
    return torch.rand(n, 1, 8, 8).bernoulli()


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_contract_shapes(make):
    m = make()
    x = _x()
    params = m.encode(x)
    assert [tuple(loc.shape) for loc, _ in params] == [(5, d) for d in m.z_dims]
    assert all((scale > 0).all() for _, scale in params)
    assert m.sample(3).shape == (3, 1, 8, 8) and m.sample(2, mean=True).shape == (2, 1, 8, 8)
    assert m.reconstruct(x).shape == x.shape
    tr = poutine.trace(m.guide).get_trace(x)
    names = sorted(n for n, s in tr.nodes.items() if s["type"] == "sample" and n != "data")
    assert names == [f"z{i + 1}" for i in range(len(m.z_dims))]


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_model_factorization_by_hand(make):
    """log p(x, z) of the trace equals p(z_L) prod p(z_i|z_{i+1}) p(x|z_1) from the networks."""
    m = make()
    x = _x()
    guide_tr = poutine.trace(m.guide).get_trace(x)
    model_tr = poutine.trace(poutine.replay(m.model, guide_tr)).get_trace(x)
    model_tr.compute_log_prob()
    z = [guide_tr.nodes[f"z{i + 1}"]["value"] for i in range(m.num_layers)]
    want = dist.Normal(0.0, 1.0).log_prob(z[-1]).sum(-1)
    for i in range(m.num_layers - 1):
        loc, scale = m.priors[i](z[i + 1])
        want = want + dist.Normal(loc, scale).log_prob(z[i]).sum(-1)
    want = want + dist.Bernoulli(logits=m.decode(z[0])).log_prob(x).sum((-1, -2, -3))
    got = sum(s["log_prob"] for n, s in model_tr.nodes.items() if s["type"] == "sample")
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("make", MODELS, ids=IDS)
@pytest.mark.parametrize("estimator", ["reparam", "stl", "dreg"])
def test_iwae_estimators_give_finite_values_and_gradients(make, estimator):
    m = make()
    loss = IWAE_ELBO(num_particles=4, estimator=estimator).differentiable_loss(
        m.model, m.guide, _x()
    )
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_bounds_are_ordered(make):
    """-ELBO >= -IWAE_50 >= IS NLL (5000 samples) in expectation; here with ample margins
    from averaging."""
    m = make()
    x = _x(4)
    with torch.no_grad():
        elbo = -Trace_ELBO(num_particles=400, vectorize_particles=True, max_plate_nesting=1).loss(
            m.model, m.guide, x
        )
        iwae = torch.stack(
            [
                -IWAE_ELBO(num_particles=50).differentiable_loss(m.model, m.guide, x)
                for _ in range(8)
            ]
        ).mean()
    nll = -log_likelihood(m, x, num_samples=2000, chunk_size=500)
    assert nll.shape == (4,) and torch.isfinite(nll).all()
    assert float(nll.sum()) <= float(-iwae) + 0.5
    assert float(-iwae) <= -elbo + 0.5


def test_particle_dims_broadcast():
    m = HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,))
    x = _x(5)
    plate = pyro.plate("particles", 7, dim=-2)
    guide_tr = poutine.trace(plate(m.guide)).get_trace(x)
    model_tr = poutine.trace(poutine.replay(plate(m.model), guide_tr)).get_trace(x)
    assert guide_tr.nodes["z1"]["value"].shape == (7, 5, 6)
    assert guide_tr.nodes["z2"]["value"].shape == (7, 5, 3)
    model_tr.compute_log_prob()
    assert model_tr.nodes["x"]["log_prob"].shape == (7, 5)


def test_factorized_inference_ignores_the_sample_below():
    """chain: q(z2|z1) moves with the z1 draw; factorized: q(z2|x) does not."""
    x = _x(3)
    plate = pyro.plate("particles", 4, dim=-2)
    for inference, varies in (("chain", True), ("factorized", False)):
        m = HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,), inference=inference)
        loc = poutine.trace(plate(m.guide)).get_trace(x).nodes["z2"]["fn"].base_dist.loc
        spread = float(loc.detach().expand(4, 3, 3).std(0).max())
        assert (spread > 1e-4) is varies


def test_ladder_merges_by_precision():
    loc, scale = precision_weighted(
        torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([1.0])
    )
    torch.testing.assert_close((loc, scale), (torch.tensor([1.0]), torch.tensor([0.5**0.5])))
    m = LadderVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,))
    x = _x(3)
    tr = poutine.trace(m.guide).get_trace(x)
    heads = m.bottom_up(x)
    want = precision_weighted(*heads[0], *m.priors[0](tr.nodes["z2"]["value"]))
    got = tr.nodes["z1"]["fn"].base_dist
    torch.testing.assert_close((got.loc, got.scale), want)
    top = tr.nodes["z2"]["fn"].base_dist
    torch.testing.assert_close((top.loc, top.scale), heads[1])


def test_bad_input_fails_fast():
    m = HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,))
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 8, 8\)"):
        m.guide(torch.zeros(2, 64))
    with pyro.validation_enabled(True), pytest.raises(ValueError, match="binary"):
        m.model(torch.full((2, 1, 8, 8), 0.5))
    with pytest.raises(ValueError, match="needs observations"):
        m.guide(None)
    with pytest.raises(ValueError, match="inference"):
        HierarchicalVAE((4,), inference="mean_field")
    with pytest.raises(ValueError, match="one per stochastic layer"):
        HierarchicalVAE((4,), z_dims=(3, 2), hidden=((4,), (4,), (4,)))


def test_default_widths_are_the_iwae_papers():
    """Burda et al.'s code: x-200-200-z(50) for one layer, x-200-200-z1(100)-100-100-z2(50)
    for two, the decoders mirrored."""
    assert HierarchicalVAE((1, 28, 28), z_dims=(50,)).hidden == ((200, 200),)
    two = HierarchicalVAE((1, 28, 28), z_dims=(100, 50))
    assert two.hidden == ((200, 200), (100, 100))
    widths = [m.out_features for m in two.decoder_net if isinstance(m, torch.nn.Linear)]
    assert widths == [200, 200, 784]
