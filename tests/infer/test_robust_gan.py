"""The JS-GAN location estimator of Gao et al. (2019): rate sqrt(p/n) on clean data, and under
20% far contamination an error far below the sample mean's, which a logistic-regression
discriminator (no hidden layer, the paper's negative result) does not achieve."""

from __future__ import annotations

import math

import pytest
import torch

from pyrogen.data import huber_contamination
from pyrogen.infer.robust_gan import SigmoidDiscriminator, robust_mean_gan

N, P = 2000, 5
RATE = math.sqrt(P / N)  # ||mean - theta|| is about sqrt(p / n) on clean data


def _data(seed: int, eps: float):
    g = torch.Generator().manual_seed(seed)
    theta = 2 * torch.randn(P, generator=g, dtype=torch.float64)
    x, _ = huber_contamination(N, theta, eps, theta + 5.0, generator=g)
    return x, theta, g


def _is_robust(estimate: torch.Tensor, theta: torch.Tensor) -> bool:
    """Within 4 sqrt(p/n) of theta under 20% contamination at distance 5 sqrt(p) = 11.2: the
    sample mean is 0.2 * 11.2 = 2.2 away and the coordinate median about 0.7."""
    return float((estimate - theta).norm()) < 4 * RATE


def test_clean_data_error_is_of_order_sqrt_p_over_n(stat_seed):
    x, theta, g = _data(stat_seed, 0.0)
    start = theta + 1.0 / math.sqrt(P)  # one unit away: the estimate has to move
    estimate = robust_mean_gan(x, init=start, steps=150, generator=g)
    assert float((estimate - theta).norm()) < 3 * RATE


def test_contaminated_error_is_far_below_the_sample_means(stat_seed):
    x, theta, g = _data(stat_seed, 0.2)
    # started at the sample mean, it must walk 2.2 units back to the inliers
    estimate = robust_mean_gan(x, init="mean", steps=200, generator=g)
    assert _is_robust(estimate, theta)
    # the property fails for the sample mean and for the coordinate-wise median ...
    assert not _is_robust(x.mean(0), theta)
    assert not _is_robust(x.median(0).values, theta)
    # ... and for the same GAN with a logistic-regression discriminator, whose saddle point is
    # the sample mean: from the same start it stays there; the hidden layer makes the difference
    linear = robust_mean_gan(x, hidden=0, init="mean", steps=200, generator=g)
    assert float((linear - x.mean(0)).norm()) < 0.2 * float((x.mean(0) - theta).norm())


def test_minimax_generator_loss_is_robust_too():
    x, theta, g = _data(0, 0.2)
    assert _is_robust(robust_mean_gan(x, loss="minimax", steps=200, generator=g), theta)


def test_the_discriminator_is_a_sigmoid_hidden_layer_network():
    g = torch.Generator().manual_seed(0)
    d = SigmoidDiscriminator(3, hidden=4, generator=g, dtype=torch.float64)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    (u, b), (w, c) = [(layer.weight.detach(), layer.bias.detach()) for layer in d.layers]
    by_hand = [
        sum(w[0, j] / (1 + math.exp(-(u[j] @ xi + b[j]))) for j in range(4)) + c[0] for xi in x
    ]
    assert d(x).tolist() == pytest.approx([float(v) for v in by_hand])
    linear = SigmoidDiscriminator(3, hidden=0, generator=g, dtype=torch.float64)
    w0, c0 = linear.layers[0].weight.detach(), linear.layers[0].bias.detach()
    assert torch.allclose(linear(x), x @ w0[0] + c0)


def test_same_generator_seed_gives_the_same_estimate():
    x, _, _ = _data(1, 0.1)
    a = robust_mean_gan(x, steps=20, generator=torch.Generator().manual_seed(7))
    b = robust_mean_gan(x, steps=20, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": torch.zeros(10)}, r"shape \(n, p\), got \(10,\)"),
        ({"x": torch.full((4, 2), float("nan"))}, "finite"),
        ({"init": torch.zeros(3)}, r"init must have shape \(2,\)"),
        ({"init": "mode"}, "init must be 'median', 'mean' or a tensor"),
        ({"loss": "wasserstein"}, "loss must be one of"),
        ({"steps": 0}, "steps must be a positive int"),
        ({"average": 1.5}, r"average must lie in \[0, 1\]"),
        ({"hidden": -1}, "hidden must be an int >= 0"),
    ],
)
def test_bad_input_says_what_was_expected(kwargs, message):
    kwargs = {"x": torch.randn(20, 2), **kwargs}
    with pytest.raises(ValueError, match=message):
        robust_mean_gan(**kwargs)
