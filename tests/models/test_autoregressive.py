"""Contract tests shared by every autoregressive family: normalization, causality by
gradient, identical cached/naive samples, and use at a Pyro sample site."""

import pyro
import pytest
import torch
from ar_factories import BINARY, CONTINUOUS, all_binary, conditions, make, mixed_condition
from pyro.infer import Trace_ELBO

ALL = {**BINARY, **CONTINUOUS}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_normalized_on_all_3x3_binary_images(name):
    m = make(name).double().eval()
    xs = all_binary(m.x_shape)
    assert xs.shape[0] == 512
    with torch.no_grad():
        for i, y in enumerate(conditions(m, 512)):
            total = m.log_prob(xs, y).exp().sum()
            assert abs(float(total) - 1.0) < 1e-5, (name, i, float(total))
    m.float()


def dependency_matrix(m, x, y=None):
    """J[i, j] = sum over parameters of |d m(x)[.., i] / d x[.., j]| for one example.

    A model that reads one-hot vectors is differentiated in its input features instead
    (one vector of F features per value), summed over each value's features."""
    d = m.num_positions
    one_hot = getattr(m, "one_hot_input", False)
    if one_hot:
        c, hgt, wid = m.x_shape
        x = torch.rand(1, c * m.features_per_value, hgt, wid, dtype=torch.float64)
        x.requires_grad_(True)
    else:
        x = x.clone().double().requires_grad_(True)

    def f(inp):
        out = m.forward_encoded(inp, y) if one_hot else m(inp, y)
        return out.reshape(m.head.params_per_value, d)

    jac = torch.autograd.functional.jacobian(f, x)  # (P, D, 1, *input_shape)
    if one_hot:  # (P, D, 1, C * F, H, W) -> (P, D, C, H, W): sum over each value's features
        jac = jac.reshape(-1, d, c, m.features_per_value, hgt, wid).abs().sum(3)
    return jac.reshape(m.head.params_per_value, d, d).abs().sum(0)


def check_causal(m, y=None):
    m = m.double()
    torch.manual_seed(1)
    x = torch.rand(1, *m.x_shape, dtype=torch.float64)
    dep = dependency_matrix(m, x, None if y is None else y[:1])
    order = m.order()
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    future = rank[None, :] >= rank[:, None]  # [i, j]: j at or after i
    assert (dep[future] == 0).all(), "an output depends on the present or the future"
    # Not vacuous: the last position depends on earlier ones.
    assert dep[order[-1]].sum() > 0
    m.float()
    return dep, rank


@pytest.mark.parametrize("name", sorted(ALL))
def test_causality_by_gradient(name):
    m = make(name)
    dep, rank = check_causal(m, mixed_condition(m, 1))
    earlier = rank[None, :] < rank[:, None]
    if name.startswith(("rnn", "transformer")):
        # Full-memory families see every earlier position.
        assert (dep[earlier] > 0).all()
    if not name.startswith(("made", "pixelcnn", "gated")):
        # Sequence families, local or not, see the previous position (the image families
        # are checked pixel by pixel in test_pixelcnn.py).
        order = m.order()
        assert (dep[order[1:], order[:-1]] > 0).all()


def test_made_every_ordering_is_causal_and_training_picks_one():
    m = make("made_ensemble")
    for k in range(m.num_masks):
        m.mask_index = k
        check_causal(m)
    m.mask_index = 0
    x = all_binary(m.x_shape, torch.float32)[:7]
    per_mask = torch.stack([m._log_prob_mask(x, k) for k in range(m.num_masks)])
    m.train()
    lp = m.log_prob(x)
    assert any(torch.allclose(lp, row) for row in per_mask)
    m.eval()
    expected = per_mask.logsumexp(0) - torch.log(torch.tensor(3.0))
    assert torch.allclose(m.log_prob(x), expected, atol=1e-6)


def test_pixelcnn_rgb_channels_are_causal_and_normalized():
    from pyrogen.models import PixelCNN

    m = PixelCNN((3, 2, 2), channels=24, num_layers=1, first_kernel=3)
    dep, rank = check_causal(m)
    # Green at a pixel sees red at the same pixel; blue sees both (mask B keeps the group).
    g, r, b = 1 * 4, 0, 2 * 4  # flat index of channel k at pixel (0, 0) is k * H * W
    assert dep[g, r] > 0 and dep[b, r] > 0 and dep[b, g] > 0
    m = m.double().eval()
    with torch.no_grad():
        total = m.log_prob(all_binary((3, 2, 2))).exp().sum()
    assert abs(float(total) - 1) < 1e-5


# MADE has no incremental path: one pass per position is already its whole network.
CACHED = [n for n in sorted(ALL) if not n.startswith("made")]


def test_the_image_and_sequence_families_have_a_cache():
    for name in CACHED:
        assert make(name).has_cache, name


@pytest.mark.parametrize("name", CACHED)
def test_cached_and_naive_samples_are_identical_for_a_seed(name):
    m = make(name)
    y = mixed_condition(m, 4)
    a = m.sample(4, y=y, cached=False, generator=torch.Generator().manual_seed(3))
    b = m.sample(4, y=y, cached=True, generator=torch.Generator().manual_seed(3))
    c = m.sample(4, y=y, cached=True, generator=torch.Generator().manual_seed(4))
    assert a.shape == (4, *m.x_shape)
    if name in BINARY:
        assert torch.equal(a, b)
    else:  # continuous values: the two paths sum in different orders
        assert torch.allclose(a, b, atol=1e-5)
    assert not torch.equal(b, c)
    m.check_x(a)  # samples lie in the support


def test_pixelcnn_cached_matches_naive_on_an_rgb_categorical_image():
    from pyrogen.models import PixelCNN

    torch.manual_seed(0)
    m = PixelCNN((3, 5, 4), channels=6, num_layers=2, likelihood="categorical", num_classes=4)
    a = m.sample(3, cached=False, generator=torch.Generator().manual_seed(0))
    b = m.sample(3, cached=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_usable_at_a_pyro_sample_site_under_svi():
    from pyrogen.models import PixelCNN

    torch.manual_seed(0)
    m = PixelCNN((1, 4, 4), channels=8, num_layers=1, first_kernel=3)
    x = torch.zeros(8, 1, 4, 4)
    x[:, :, ::2] = 1.0

    def model(data):
        with pyro.plate("data", data.shape[0]):
            pyro.sample("x", m, obs=data)

    def guide(data):
        pass

    elbo = Trace_ELBO()
    loss0 = elbo.differentiable_loss(model, guide, x)
    assert torch.allclose(loss0, -m.log_prob(x).sum())
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        loss = elbo.differentiable_loss(model, guide, x)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * float(loss0.detach())
    # Unobserved: Pyro calls the distribution, with and without a plate.
    assert pyro.sample("free", m).shape == (1, 4, 4)
    with pyro.plate("p", 3):
        assert pyro.sample("free_plate", m).shape == (3, 1, 4, 4)


def test_model_guide_contract_class_conditional():
    from pyrogen.models import GatedPixelCNN

    torch.manual_seed(0)
    m = GatedPixelCNN((1, 4, 4), channels=8, num_layers=2, num_classes=2)
    x = torch.zeros(6, 1, 4, 4)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    x[y == 1] = 1.0
    tr = pyro.poutine.trace(m.model).get_trace(x, y)
    site = tr.nodes["x"]
    assert site["is_observed"]
    assert [(f.name, f.size) for f in site["cond_indep_stack"]] == [("data", 6)]
    assert len(pyro.poutine.trace(m.guide).get_trace(x, y).stochastic_nodes) == 0
    elbo = Trace_ELBO()
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    start = float(elbo.differentiable_loss(m.model, m.guide, x, y).detach())
    for _ in range(30):
        opt.zero_grad()
        loss = elbo.differentiable_loss(m.model, m.guide, x, y)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * start
    # Class-conditional samples follow their label after training.
    s = m.sample(4, y=torch.tensor([0, 1, 0, 1]))
    assert s[1::2].mean() > 0.8 and s[::2].mean() < 0.2
    assert m.model(None, torch.tensor([1, 0])).shape == (2, 1, 4, 4)


def test_svi_trainer_trains_an_unconditional_model():
    from pyrogen.infer.trainer import SVITrainer
    from pyrogen.models import MADE

    torch.manual_seed(0)
    m = MADE((6,), hidden=(16,))
    x = torch.tensor([[1.0, 0, 1, 0, 1, 0]]).repeat(16, 1)
    trainer = SVITrainer(m, lr=0.05)
    start = float(trainer.evaluate(x)["loss"])
    for _ in range(50):
        out = trainer.step(x)
    assert torch.allclose(trainer.evaluate(x)["loss"], -m.log_prob(x).mean())
    assert float(out["loss"]) < 0.2 * start


def test_bad_inputs_have_clear_errors():
    from pyrogen.models import GatedPixelCNN, PixelCNN

    m = PixelCNN((1, 3, 3), channels=4, num_layers=1)
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 3, 3\), got \(2, 9\)"):
        m.log_prob(torch.zeros(2, 9))
    with pytest.raises(ValueError, match="binary"):
        m.model(torch.full((2, 1, 3, 3), 0.5))
    g = GatedPixelCNN((1, 3, 3), channels=4, num_layers=1, num_classes=2)
    with pytest.raises(ValueError, match="class-conditional"):
        g.log_prob(torch.zeros(2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        g.log_prob(torch.zeros(2, 1, 3, 3), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="one-channel"):
        GatedPixelCNN((3, 3, 3))


def test_importance_sampled_log_likelihood_is_exact_for_a_fully_observed_model():
    """With an empty guide every importance weight is p(x): the metric equals log_prob."""
    from pyrogen.metrics import log_likelihood

    m = make("pixelcnn").eval()
    x = all_binary(m.x_shape, torch.float32)[::37]
    with torch.no_grad():
        est = log_likelihood(m, x, num_samples=20, batch_size=7, chunk_size=10)
        assert torch.allclose(est, m.log_prob(x), atol=1e-4)
