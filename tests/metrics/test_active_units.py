"""Active units count exactly the latent dimensions whose posterior mean varies with x."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrogen.metrics import active_units
from pyrogen.models import HierarchicalVAE, LadderVAE


class LinearEncoder:
    """q(z1|x) = N(x0 * c, 0.1); q(z2|z1) = N((z1_0, z1_1, 3), 0.1). Only dims that move with
    x0 are active: z1_0, z1_2 (c = 1, 0, 0.5, 0, 0.05 -> variances 1, 0, .25, 0, .0025) and
    z2_0 (mean x0); z2_1's mean is E[z1_1] = 0 for every x."""

    c = torch.tensor([1.0, 0.0, 0.5, 0.0, 0.05])

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            loc1 = x[:, :1] * self.c + torch.arange(5.0)  # constant offsets never count
            z1 = pyro.sample("z1", dist.Normal(loc1, 0.1).to_event(1))
            loc2 = torch.stack([z1[..., 0], z1[..., 1], torch.full_like(z1[..., 0], 3.0)], -1)
            pyro.sample("z2", dist.Normal(loc2, 0.1).to_event(1))


def test_counts_the_units_whose_mean_varies():
    x = torch.randn(600, 3)
    x[:, 0] = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std(unbiased=False)  # variance exactly 1
    au = active_units(LinearEncoder(), x, num_samples=10, batch_size=300)
    assert au.counts == {"z1": 2, "z2": 1}
    assert au.total == 3 and str(au) == "2+1"
    # Cov_x(E_q[z1]) is c^2 exactly (z1's mean depends on x only)
    torch.testing.assert_close(au.variances["z1"], LinearEncoder.c**2, atol=1e-5, rtol=1e-5)
    # z2_0's conditional mean is the z1_0 sample: Rao-Blackwellized average over 10 draws
    assert abs(float(au.variances["z2"][0]) - 1.0) < 0.01
    assert float(au.variances["z2"][1]) < 0.01 and float(au.variances["z2"][2]) == 0.0


def test_threshold_is_strict_and_configurable():
    x = torch.randn(500, 3)
    x[:, 0] = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std(unbiased=False)
    au = active_units(LinearEncoder(), x, threshold=0.001)
    assert au.counts["z1"] == 3  # 0.0025 > 0.001 now counts
    assert active_units(LinearEncoder(), x, threshold=2.0).total == 0


@pytest.mark.parametrize("cls", [HierarchicalVAE, LadderVAE])
def test_layers_in_order_and_bounded_by_sizes(cls):
    m = cls((1, 8, 8), z_dims=(6, 3), hidden=(16,))
    au = active_units(m, torch.rand(40, 1, 8, 8).bernoulli())
    assert list(au.counts) == ["z1", "z2"]
    assert [v.shape[0] for v in au.variances.values()] == [6, 3]
    assert all(0 <= c <= d for c, d in zip(au.counts.values(), (6, 3)))


def test_bad_input_fails_fast():
    with pytest.raises(ValueError, match="at least 2 examples"):
        active_units(LinearEncoder(), torch.randn(1, 3))
    with pytest.raises(TypeError, match="guide"):
        active_units(object(), torch.randn(4, 3))
