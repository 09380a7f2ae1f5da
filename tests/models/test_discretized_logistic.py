import torch

from pyrogen.models import DiscretizedLogisticMixture


def test_probabilities_of_all_levels_sum_to_one():
    torch.manual_seed(0)
    head = DiscretizedLogisticMixture(num_mixtures=3, num_bins=256)
    params = torch.randn(4, 9, 1, dtype=torch.float64).expand(4, 9, 256)
    x = (torch.arange(256, dtype=torch.float64) / 255).expand(4, 256)
    total = head.log_prob(params, x).exp().sum(-1)
    assert torch.allclose(total, torch.ones(4, dtype=torch.float64), atol=1e-10)


def test_single_logistic_matches_the_cdf_difference():
    head = DiscretizedLogisticMixture(num_mixtures=1, num_bins=5)
    mu, log_s = 0.3, -1.0
    params = torch.tensor([[[0.0], [mu], [log_s]]], dtype=torch.float64).expand(1, 3, 5)
    x = torch.arange(5, dtype=torch.float64)[None] / 4
    y = 2 * x - 1
    cdf = lambda v: torch.sigmoid((v - mu) / torch.exp(torch.tensor(log_s)))  # noqa: E731
    expected = cdf(y + 0.25) - cdf(y - 0.25)
    expected[0, 0] = cdf(y[0, 0] + 0.25)
    expected[0, -1] = 1 - cdf(y[0, -1] - 0.25)
    assert torch.allclose(head.log_prob(params, x).exp(), expected, atol=1e-12)


def test_stable_far_in_the_tails():
    head = DiscretizedLogisticMixture(num_mixtures=1, num_bins=256)
    # A sharp component far from the data: tiny but finite log-probabilities.
    params = torch.tensor([[[0.0], [0.9], [-7.0]]]).expand(1, 3, 2)
    x = torch.tensor([[0.2, 0.8]])
    lp = head.log_prob(params, x)
    assert torch.isfinite(lp).all() and (lp < -50).all()


def test_samples_follow_the_probabilities():
    torch.manual_seed(0)
    head = DiscretizedLogisticMixture(num_mixtures=2, num_bins=8)
    p6 = torch.tensor([0.5, -1.0, 0.6, -0.4, -1.2, -0.8])
    n = 40000
    samples = head.sample(p6.expand(n, 6), head.draw_noise((n,), torch.device("cpu"), None))
    freq = torch.bincount((samples * 7).round().long(), minlength=8).float() / n
    levels = torch.arange(8.0) / 7
    prob = head.log_prob(p6[None, :, None].expand(1, 6, 8), levels[None]).exp()[0]
    assert (freq - prob).abs().max() < 0.01
