import pytest
import torch
from scipy.signal import lfilter

from pyrogen.models import LinearGaussianAR
from pyrogen.models.ar_process import lagged, least_squares, yule_walker


def simulate(coef, c, sigma, length, batch=1, seed=0):
    """x_t = c + sum_k a_k x_{t-k} + sigma eps_t from zeros, as an IIR filter of c + sigma eps."""
    g = torch.Generator().manual_seed(seed)
    drive = c + sigma * torch.randn(batch, length, generator=g, dtype=torch.float64)
    x = lfilter([1.0], [1.0, *(-a for a in coef)], drive.numpy(), axis=-1)
    return torch.from_numpy(x)


def test_lagged_regressors():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert torch.equal(lagged(x, 2)[0], torch.tensor([[0, 0], [1, 0], [2, 1], [3, 2.0]]))


def test_maximum_likelihood_equals_least_squares():
    x = simulate([0.6, -0.3], 0.2, 0.7, 400, batch=3)
    m = LinearGaussianAR(400, order=2).double()
    opt = torch.optim.LBFGS(
        m.parameters(),
        lr=1,
        max_iter=200,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = -m.log_prob(x).sum()
        loss.backward()
        return loss

    opt.step(closure)
    a, c, sigma = least_squares(x, 2)
    assert torch.allclose(m.coef, a, atol=1e-6)
    assert torch.allclose(m.intercept, c, atol=1e-6)
    assert torch.allclose(m.log_scale.exp(), sigma, atol=1e-6)
    # and the closed form sets the same parameters
    m2 = LinearGaussianAR(400, order=2).double().fit_least_squares(x)
    assert torch.allclose(m2.log_prob(x), m.log_prob(x), atol=1e-6)


def test_least_squares_and_yule_walker_agree_on_a_long_series():
    truth = torch.tensor([0.5, -0.25, 0.1], dtype=torch.float64)
    x = simulate(truth.tolist(), 0.0, 1.0, 20000, seed=1)
    a_ls, _, s_ls = least_squares(x, 3)
    a_yw, s_yw = yule_walker(x[0], 3)
    assert torch.allclose(a_ls, a_yw, atol=5e-3)
    assert abs(float(s_ls - s_yw)) < 5e-3
    assert torch.allclose(a_yw, truth, atol=0.03)


def test_cached_sampling_is_the_recursion():
    m = LinearGaussianAR(50, order=2).double()
    with torch.no_grad():
        m.coef.copy_(torch.tensor([0.6, -0.3]))
        m.intercept.fill_(0.2)
        m.log_scale.fill_(-0.5)
    g = torch.Generator().manual_seed(0)
    x = m.sample(3, generator=g)
    eps = torch.randn(3, 50, 1, generator=torch.Generator().manual_seed(0))[..., 0]
    expected = lfilter([1.0], [1.0, -0.6, 0.3], (0.2 + torch.exp(torch.tensor(-0.5)) * eps).numpy())
    assert torch.allclose(x.double(), torch.from_numpy(expected), atol=1e-5)


def test_log_prob_is_the_sum_of_gaussian_conditionals():
    m = LinearGaussianAR(5, order=1).double()
    with torch.no_grad():
        m.coef.fill_(0.5)
        m.intercept.fill_(1.0)
        m.log_scale.fill_(0.0)
    x = torch.tensor([[1.0, 2.0, 0.0, -1.0, 3.0]], dtype=torch.float64)
    loc = torch.tensor([1.0, 1.5, 2.0, 1.0, 0.5], dtype=torch.float64)
    expected = torch.distributions.Normal(loc, 1.0).log_prob(x).sum()
    assert torch.allclose(m.log_prob(x), expected.reshape(1))


def test_order_must_be_positive():
    with pytest.raises(ValueError, match="order must be >= 1"):
        LinearGaussianAR(5, order=0)
