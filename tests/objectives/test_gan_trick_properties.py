"""What each GAN trick claims, checked through AdversarialSVI.step: feature matching moves the
generator along the feature-mean gap and closes it, instance noise reaches the critic as
N(0, sigma^2) on data and samples alike, and unrolling gives the generator the total
derivative through the critic's K-step response.

The generator's update is read through the public API: with both optimizers SGD at lr 0 a
step changes no weight and leaves the generator's gradient in ``.grad``; seeding Pyro before
the step fixes the two latent batches it draws (the critic's, then the generator's).
"""

from __future__ import annotations

import copy
import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.infer import AdversarialSVI
from pyrogen.models import Discriminator, Generator
from pyrogen.objectives import GANLoss

B = 64


def _players(seed: int = 0) -> tuple[Generator, Discriminator]:
    pyro.set_rng_seed(seed)
    g = Generator((2,), z_dim=2, hidden=(8,), act="tanh").double()
    d = Discriminator((2,), hidden=(8, 8), act="tanh").double()
    return g, d


def _frozen(g: nn.Module, d: nn.Module, loss: GANLoss) -> AdversarialSVI:
    def sgd0(p):
        return torch.optim.SGD(p, lr=0.0)

    return AdversarialSVI(g, d, loss, optim_g=sgd0, optim_d=sgd0)


def _step_gradient(t: AdversarialSVI, real: torch.Tensor, seed: int) -> list[torch.Tensor]:
    pyro.set_rng_seed(seed)
    t.step(real)
    return [p.grad.clone() for p in t.generator.parameters()]


def _replayed_fake(g: Generator, seed: int) -> torch.Tensor:
    """The samples the generator step of ``_step_gradient(..., seed)`` scored."""
    pyro.set_rng_seed(seed)
    with torch.no_grad():
        g.model(num_samples=B)  # the critic step's batch
    return g.model(num_samples=B)


def _real(seed: int = 1) -> torch.Tensor:
    return torch.randn(B, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _close(a: list[torch.Tensor], b: list[torch.Tensor], tol: float = 1e-7) -> bool:
    return all(torch.allclose(u, v, rtol=tol, atol=tol) for u, v in zip(a, b))


def test_feature_matching_steps_along_the_feature_mean_gap():
    """Salimans et al. 2016, sec. 3.1: the generator's loss is ||E f(x) - E f(G(z))||^2."""
    g, d = _players()
    real = _real()
    got = _step_gradient(_frozen(g, d, GANLoss("nonsaturating", feature_matching=True)), real, 3)
    fake = _replayed_fake(g, 3)
    gap = (d.features(real).mean(0) - d.features(fake).mean(0)).square().sum()
    assert _close(got, list(torch.autograd.grad(gap, list(g.parameters()))))
    # Not the adversarial gradient: the check tells the two objectives apart.
    adversarial = F.softplus(-d(_replayed_fake(g, 3))).mean()
    assert not _close(got, list(torch.autograd.grad(adversarial, list(g.parameters()))), 1e-3)


def test_feature_matching_closes_the_gap_of_a_fixed_critic(stat_seed):
    """Against a fixed critic, 150 generator steps shrink the feature-mean gap (measured on
    4000 fresh draws, so its sampling error is far below the factor asked) tenfold."""
    g, d = _players(stat_seed)
    data = 1.5 + 0.5 * torch.randn(4000, 2, dtype=torch.float64)

    def gap() -> float:
        with torch.no_grad():
            fake = g.sample(4000)
            return float((d.features(data).mean(0) - d.features(fake).mean(0)).square().sum())

    t = AdversarialSVI(
        g,
        d,
        GANLoss("nonsaturating", feature_matching=True),
        optim_g=lambda p: torch.optim.Adam(p, lr=2e-2),
        optim_d=lambda p: torch.optim.SGD(p, lr=0.0),
    )
    before = gap()
    for i in range(150):
        t.step(data[(i * 256) % 4000 :][:256])
    assert gap() < 0.1 * before, (gap(), before)


class _Recorder(nn.Module):
    """A critic that keeps every input it is shown."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1).double()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.lin(x).squeeze(-1)


def test_instance_noise_reaches_the_critic_on_data_and_samples(stat_seed):
    """Sonderby et al. 2017: both players' critic inputs carry independent N(0, sigma^2)
    noise; evaluation sees the clean inputs. A generator with zero weights outputs 0 and the
    data are 0, so every critic input is the noise itself: its standard deviation is checked
    to 5 standard errors (sigma / sqrt(2n)) and its correlation between data and samples to
    5 / sqrt(n)."""
    pyro.set_rng_seed(stat_seed)
    sigma, n = 0.3, 4000
    g = Generator((2,), z_dim=2, hidden=(8,)).double()
    with torch.no_grad():
        for p in g.parameters():
            p.zero_()
    critic = _Recorder()
    t = _frozen(g, critic, GANLoss("nonsaturating", instance_noise=sigma))
    x = torch.zeros(n, 2, dtype=torch.float64)
    t.step(x)
    real_in, fake_in, generator_in = critic.seen  # critic step (data, samples), then generator
    se = sigma / math.sqrt(2 * real_in.numel())
    for noise in (real_in, fake_in, generator_in):
        assert abs(float(noise.std()) - sigma) < 5 * se
        assert abs(float(noise.mean())) < 5 * sigma / math.sqrt(noise.numel())
    corr = torch.corrcoef(torch.stack([real_in.flatten(), fake_in.flatten()]))[0, 1]
    assert abs(float(corr)) < 5 / math.sqrt(real_in.numel())
    critic.seen.clear()
    t.evaluate(x)
    assert all(bool((seen == 0).all()) for seen in critic.seen)


def _unrolled_objective(g, d, real, seed, steps, lr):
    """L_G(theta_D^K(G), G) with theta_D^K from K plain SGD steps on a copy (no graph)."""
    with torch.enable_grad():
        fake = _replayed_fake(g, seed).detach()
        critic = copy.deepcopy(d)
        opt = torch.optim.SGD(critic.parameters(), lr=lr)
        loss = GANLoss("nonsaturating")
        for _ in range(steps):
            opt.zero_grad()
            loss.discriminator_loss(critic(real), critic(fake)).backward()
            opt.step()
        return float(F.softplus(-critic(fake)).mean().detach())


@pytest.mark.parametrize("steps", [1, 3])
def test_unrolled_generator_gradient_is_the_total_derivative(steps):
    """Metz et al. 2017, eq. (5)-(6): dL_G/dtheta_G includes the critic's response
    d theta_D^K / d theta_G. Checked by central differences of the unrolled objective in
    float64; the gradient without the response (the critic's K-step weights held fixed)
    differs from it by far more than the tolerance."""
    g, d = _players()
    real, lr = _real(), 0.5
    loss = GANLoss("nonsaturating", unrolled_steps=steps, unrolled_lr=lr)
    got = torch.cat([v.flatten() for v in _step_gradient(_frozen(g, d, loss), real, 3)])
    params = list(g.parameters())
    numeric = []
    with torch.no_grad():
        for p in params:
            for i in range(p.numel()):
                flat = p.view(-1)
                flat[i] += 1e-5
                up = _unrolled_objective(g, d, real, 3, steps, lr)
                flat[i] -= 2e-5
                down = _unrolled_objective(g, d, real, 3, steps, lr)
                flat[i] += 1e-5
                numeric.append((up - down) / 2e-5)
    numeric_t = torch.tensor(numeric, dtype=torch.float64)
    assert torch.allclose(got, numeric_t, rtol=1e-5, atol=1e-7), (got, numeric_t)
    # The same critic weights without the response term.
    fake = _replayed_fake(g, 3)
    critic = copy.deepcopy(d)
    opt = torch.optim.SGD(critic.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss.discriminator_loss(critic(real), critic(fake.detach())).backward()
        opt.step()
    frozen = torch.autograd.grad(F.softplus(-critic(fake)).mean(), params)
    frozen_t = torch.cat([v.flatten() for v in frozen])
    assert (frozen_t - numeric_t).abs().max() > 100 * (got - numeric_t).abs().max()
