import math

import pyro
import pytest
import torch

from pyrogen.infer import AdversarialSVI
from pyrogen.models import InfoGANDiscriminator, InfoGANGenerator
from pyrogen.models.infogan import mi_lower_bound


def test_codes_are_pyro_sites():
    g = InfoGANGenerator((2,), z_dim=3, num_categories=4, num_continuous=2, hidden=(8,))
    tr = pyro.poutine.trace(g.model).get_trace(num_samples=50)
    c_cat, c_cont = tr.nodes["c_cat"]["value"], tr.nodes["c_cont"]["value"]
    assert c_cat.shape == (50, 4) and torch.equal(c_cat.sum(-1), torch.ones(50))
    assert c_cont.shape == (50, 2) and float(c_cont.abs().max()) < 1
    h = torch.cat([tr.nodes["z"]["value"], c_cat, c_cont], -1)
    assert torch.allclose(tr.nodes["x"]["value"], g.net(h))
    x = g.traverse(torch.zeros(3, 3), torch.tensor([0, 1, 2]), torch.zeros(3, 2))
    assert x.shape == (3, 2)


def test_mi_bound_known_values():
    k, l_dim, b = 5, 2, 7
    c_cat = torch.nn.functional.one_hot(torch.arange(b) % k, k).float()
    c_cont = torch.rand(b, l_dim) * 2 - 1
    # A uninformative Q (uniform categorical) gets exactly zero from the categorical part;
    # a Gaussian Q centred on the code with unit scale gets log N(0; 0, 1) per code.
    bound = mi_lower_bound(torch.zeros(b, k), c_cont, torch.zeros(b, l_dim), c_cat, c_cont)
    expected = l_dim * (math.log(2) - 0.5 * math.log(2 * math.pi))
    assert torch.allclose(bound, torch.full((b,), expected), atol=1e-6)
    # A perfect categorical Q reaches H(c_cat) = log K, the maximum of the discrete part.
    bound = mi_lower_bound(1e4 * c_cat, c_cont, torch.zeros(b, 0), c_cat, c_cont[:, :0])
    assert torch.allclose(bound, torch.full((b,), math.log(k)), atol=1e-4)


def test_training_raises_the_mutual_information_bound():
    pyro.set_rng_seed(0)
    g = InfoGANGenerator((2,), z_dim=2, num_categories=4, num_continuous=1, hidden=(32,))
    d = InfoGANDiscriminator((2,), num_categories=4, num_continuous=1, hidden=(32,))
    opt = lambda p: torch.optim.Adam(p, lr=2e-3, betas=(0.5, 0.999))  # noqa: E731
    t = AdversarialSVI(g, d, "nonsaturating", optim_g=opt, optim_d=opt)
    x = torch.randn(256, 2)
    first = float(t.evaluate(x)["mi"])
    for _ in range(60):
        out = t.step(torch.randn(128, 2))
    assert "mi" in out
    # H(c) = log 4 + log 2 for the codes; the bound starts below 0 and must climb.
    assert float(t.evaluate(x)["mi"]) > first + 1.0
    with pytest.raises(KeyError):
        d.mi_lower_bound(x, {})
