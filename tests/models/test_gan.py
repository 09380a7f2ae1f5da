import pyro
import pytest
import torch

from pyrogen.models import Discriminator, Generator


def test_generator_is_a_pyro_model_with_z_sample_and_x_deterministic():
    g = Generator((3,), z_dim=2, hidden=(8,))
    tr = pyro.poutine.trace(g.model).get_trace(num_samples=6)
    z, x = tr.nodes["z"], tr.nodes["x"]
    assert z["type"] == "sample" and not z["is_observed"] and z["value"].shape == (6, 2)
    assert x["infer"].get("_deterministic") and x["value"].shape == (6, 3)
    assert [f.name for f in z["cond_indep_stack"]] == ["data"]
    assert torch.allclose(x["value"], g.net(z["value"]))
    # Conditioning the latent site makes the sample a deterministic function of it.
    z0 = torch.zeros(4, 2)
    x0 = pyro.condition(g.model, data={"z": z0})(num_samples=4)
    assert torch.allclose(x0, g.net(z0).expand(4, 3))
    assert g.guide() is None and g.sample(5).shape == (5, 3)
    # x only sets the batch size; a wrong shape is caught.
    assert g.model(torch.zeros(7, 3)).shape == (7, 3)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        g.model(torch.zeros(7, 2))


def test_conditional_generator_and_projection_critic():
    g = Generator((2,), z_dim=2, hidden=(8,), num_classes=3)
    y = torch.tensor([0, 1, 2, 1])
    assert g.sample(4, y=y).shape == (4, 2)
    with pytest.raises(ValueError, match="conditional"):
        g.sample(4)
    with pytest.raises(ValueError, match=r"labels y must lie in \[0, 3\)"):
        g.sample(4, y=torch.tensor([0, 1, 2, 3]))
    d = Discriminator((2,), hidden=(8,), num_classes=3)
    x = torch.randn(4, 2)
    # Projection: D(x, y) - D(x, y') = (e_y - e_y') . phi(x).
    phi = d.features(x)
    diff = d(x, y) - d(x, torch.zeros(4, dtype=torch.long))
    expected = ((d.embed(y) - d.embed(torch.zeros(4, dtype=torch.long))) * phi).sum(-1)
    assert torch.allclose(diff, expected, atol=1e-6)


def test_discriminator_shapes_and_checks():
    d = Discriminator((1, 8, 8), hidden=(16, 8))
    assert d(torch.rand(5, 1, 8, 8)).shape == (5,)
    assert d.features(torch.rand(5, 1, 8, 8)).shape == (5, 8)
    with pytest.raises(ValueError, match="critic input"):
        d(torch.rand(5, 1, 8, 9))
    with pytest.raises(ValueError, match="unknown arch"):
        Discriminator((2,), arch="resnet")
