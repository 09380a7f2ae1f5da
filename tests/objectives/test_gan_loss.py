"""Theory checks: trained critics reach the values the GAN papers derive."""

import math

import pytest
import torch
from scipy import integrate, stats
from torch import nn
from torch.distributions import Normal

from pyrogen.models import Discriminator
from pyrogen.objectives import GANLoss


def _train_critic(loss, p, q, steps=300, lr=1e-2, batch=256):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    # A zero last layer starts the critic at 0: with a gradient penalty, a random start can
    # lock the 1-D critic into the wrong slope sign (the penalty makes slope 0 a barrier).
    nn.init.zeros_(net[-1].weight)
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def critic(x):
        return net(x).squeeze(-1)

    for _ in range(steps):
        real, fake = p.sample((batch, 1)), q.sample((batch, 1))
        v_real, v_fake = critic(real), critic(fake)
        total = loss.discriminator_loss(v_real, v_fake)
        if loss.gp:
            total = total + loss.gradient_penalty(critic, real, fake)
        opt.zero_grad()
        total.backward()
        opt.step()
    return critic


def _value(loss, critic, p, q, n=200_000):
    torch.manual_seed(1)
    with torch.no_grad():
        v_real, v_fake = critic(p.sample((n, 1))), critic(q.sample((n, 1)))
        return float(loss.value(v_real, v_fake))


def _js(p, q):
    def integrand(x):
        a, b = p.pdf(x), q.pdf(x)
        m = (a + b) / 2
        return 0.5 * a * math.log(a / m) + 0.5 * b * math.log(b / m)

    return integrate.quad(integrand, -12, 12, limit=200)[0]


def test_discriminator_converges_to_p_over_p_plus_q_and_value_to_2js_minus_log4():
    p, q = Normal(0.0, 1.0), Normal(1.5, 0.6)
    loss = GANLoss("minimax")
    critic = _train_critic(loss, p, q)
    x = torch.linspace(-1.5, 2.5, 41)[:, None]
    with torch.no_grad():
        d = torch.sigmoid(critic(x))
    pd, qd = p.log_prob(x[:, 0]).exp(), q.log_prob(x[:, 0]).exp()
    assert torch.allclose(d, pd / (pd + qd), atol=0.05)
    optimum = 2 * _js(stats.norm(0, 1), stats.norm(1.5, 0.6)) - math.log(4)
    value = _value(loss, critic, p, q)
    assert value == pytest.approx(optimum, abs=0.02)
    assert value < optimum + 0.005  # any critic is below the optimum (up to MC error)


def test_f_gan_kl_bound_is_below_and_close_to_the_analytic_kl():
    p, q = Normal(0.0, 1.0), Normal(0.5, 1.3)
    kl = math.log(1.3) + (1 + 0.25) / (2 * 1.3**2) - 0.5
    loss = GANLoss("f:kl")
    critic = _train_critic(loss, p, q)
    bound = _value(loss, critic, p, q)
    assert bound < kl + 0.005
    assert bound > kl - 0.03


def test_wgan_gp_critic_estimates_w1():
    p, q = Normal(0.0, 1.0), Normal(1.0, 0.5)
    # In 1-D, W1 is the L1 distance between the quantile functions.
    w1 = integrate.quad(
        lambda u: abs(stats.norm.ppf(u) - stats.norm.ppf(u, 1.0, 0.5)), 0, 1, limit=200
    )[0]
    loss = GANLoss("wgan-gp")
    assert loss.gp == 10.0
    critic = _train_critic(loss, p, q)
    estimate = _value(loss, critic, p, q)
    # The soft penalty lets the slope exceed 1 by about W1 / (2 lambda), so the estimate sits
    # a few percent above W1 (Gulrajani et al. 2017, Sec. 4: a soft constraint).
    assert estimate == pytest.approx(w1, rel=0.08)
    assert estimate > 0.95 * w1


def test_nonsaturating_gradient_does_not_vanish_where_minimax_does():
    v = torch.tensor([-8.0, 0.0, 3.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(GANLoss("minimax").generator_loss(v) * 3, v)
    (g_ns,) = torch.autograd.grad(GANLoss("nonsaturating").generator_loss(v) * 3, v)
    # d/dv log(1 - sigmoid v) = -sigmoid(v); d/dv -log sigmoid(v) = -sigmoid(-v).
    assert torch.allclose(g_mm, -torch.sigmoid(v))
    assert torch.allclose(g_ns, -torch.sigmoid(-v))
    assert abs(float(g_mm[0])) < 1e-3 and float(g_ns[0]) < -0.99


def test_one_sided_label_smoothing_moves_only_the_real_target():
    alpha = 0.1
    loss = GANLoss("nonsaturating", label_smoothing=alpha)
    v_real = torch.tensor([math.log((1 - alpha) / alpha)], requires_grad=True)
    v_fake = torch.tensor([-2.0], requires_grad=True)
    g_real, g_fake = torch.autograd.grad(loss.discriminator_loss(v_real, v_fake), [v_real, v_fake])
    assert abs(float(g_real)) < 1e-6  # optimum at D(x) = 1 - alpha
    assert float(g_fake) == pytest.approx(float(torch.sigmoid(torch.tensor(-2.0))))


def test_hinge_and_least_squares_values():
    v_real, v_fake = torch.tensor([2.0, 0.5]), torch.tensor([-0.5, -3.0])
    hinge = GANLoss("hinge")
    assert float(hinge.discriminator_loss(v_real, v_fake)) == pytest.approx((0 + 0.5) / 2 + 0.25)
    assert float(hinge.generator_loss(v_fake)) == pytest.approx(1.75)
    ls = GANLoss("ls")
    assert float(ls.discriminator_loss(v_real, v_fake)) == pytest.approx(
        0.5 * (1 + 0.25) / 2 + 0.5 * (0.25 + 9) / 2
    )
    assert float(ls.generator_loss(v_fake)) == pytest.approx(0.5 * (2.25 + 16) / 2)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])
    loss = GANLoss("wgan-gp")
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    penalty = loss.gradient_penalty(lambda x: x @ w, real, fake)
    assert float(penalty) == pytest.approx(10.0 * (5.0 - 1.0) ** 2)


def test_weight_clipping_default_and_effect():
    loss = GANLoss("wasserstein")
    assert loss.clip == 0.01
    critic = Discriminator((2,), hidden=(8,))
    loss.clip_(critic)
    assert max(float(p.detach().abs().max()) for p in critic.parameters()) <= 0.01


def test_bad_options_fail_fast():
    with pytest.raises(ValueError, match="expected one of"):
        GANLoss("vanilla")
    with pytest.raises(ValueError, match="label smoothing"):
        GANLoss("wasserstein", label_smoothing=0.1)
    with pytest.raises(ValueError, match="same shape|one shape"):
        GANLoss("wgan-gp").gradient_penalty(
            lambda x: x.sum(1), torch.zeros(2, 2), torch.zeros(3, 2)
        )
