import copy

import pytest
import torch
from torch import nn

from pyrogen.objectives import GANLoss
from pyrogen.objectives.gan_tricks import HistoricalAverage, unrolled_critic


def _critic():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))


def test_unrolled_critic_equals_k_plain_sgd_steps():
    critic, loss = _critic(), GANLoss("nonsaturating")
    real, fake, probe = torch.randn(16, 2), torch.randn(16, 2) + 1, torch.randn(5, 2)
    unrolled = unrolled_critic(critic, loss.discriminator_loss, real, fake, steps=3, lr=0.1)
    twin = copy.deepcopy(critic)
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        loss.discriminator_loss(twin(real), twin(fake)).backward()
        opt.step()
    assert torch.allclose(unrolled(probe), twin(probe), atol=1e-6)
    # The critic's own weights are untouched.
    assert torch.allclose(critic(probe), _critic()(probe))


def test_unrolling_adds_the_critic_response_to_the_generator_gradient():
    critic, loss = _critic(), GANLoss("nonsaturating")
    real = torch.randn(16, 2)
    shift = torch.zeros(2, requires_grad=True)
    base = torch.randn(16, 2)

    def grad(steps):
        fake = base + shift
        f = unrolled_critic(critic, loss.discriminator_loss, real, fake, steps=steps, lr=0.5)
        (g,) = torch.autograd.grad(loss.generator_loss(f(fake)), shift)
        return g

    g0 = grad(0)
    plain = torch.autograd.grad(loss.generator_loss(critic(base + shift)), shift)[0]
    assert torch.allclose(g0, plain)
    assert not torch.allclose(grad(2), g0, atol=1e-4)


def test_historical_average_is_the_running_mean():
    net = nn.Linear(1, 1, bias=False)
    hist = HistoricalAverage(net)
    assert float(hist.penalty().detach()) == 0.0
    for w in (1.0, 2.0, 6.0):
        with torch.no_grad():
            net.weight.fill_(w)
        hist.update()
    with torch.no_grad():
        net.weight.fill_(5.0)
    assert float(hist.penalty().detach()) == pytest.approx((5.0 - 3.0) ** 2)
    other = HistoricalAverage(net)
    other.load_state_dict(hist.state_dict())
    assert float(other.penalty().detach()) == pytest.approx(4.0)
