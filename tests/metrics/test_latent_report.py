import math

import pyro
import pyro.distributions as dist
import torch

from pyrogen.metrics import latent_report
from pyrogen.models import HierarchicalVAE


class Codes:
    """q(z|x) = N((x0, 0), 0.001^2): one active unit of two; p(z) = N(0, I)."""

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z[..., :1], 1.0).to_event(1), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            loc = torch.cat([x, torch.zeros_like(x)], -1)
            pyro.sample("z", dist.Normal(loc, 0.001).to_event(1))


class NoLatents:
    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(0.0, 1.0).to_event(1), obs=x)

    def guide(self, x):
        pass


def test_report_holds_active_units_and_surgery_terms():
    x = torch.linspace(-2, 2, 300).unsqueeze(-1)
    r = latent_report(Codes(), x, num_examples=40)
    assert r["active_units"] == "1" and r["active_units/z"] == 1
    assert r["elbo_surgery/log_n"] == math.log(40)  # a subset of 40 of the 300
    terms = r["elbo_surgery/mutual_info"] + r["elbo_surgery/marginal_kl"]
    assert abs(r["elbo_surgery/avg_kl"] - terms) < 1e-4
    # codes at least 4/300 apart with scale 0.001 never overlap: the MI reaches log N
    assert abs(r["elbo_surgery/mutual_info"] - math.log(40)) < 1e-3


def test_hierarchical_report_has_one_entry_per_layer():
    m = HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,))
    r = latent_report(m, torch.rand(30, 1, 8, 8).bernoulli(), num_examples=10)
    assert {"active_units/z1", "active_units/z2"} <= set(r)
    assert r["active_units"] == f"{r['active_units/z1']}+{r['active_units/z2']}"


def test_models_without_latents_report_nothing():
    assert latent_report(NoLatents(), torch.randn(10, 2)) == {}
    assert latent_report(object(), torch.randn(10, 2)) == {}
