"""Denoising autoencoder: corruption, the score reading (Alain & Bengio 2014) and the
corruption/reconstruction chain as a sampler (Bengio et al. 2013), on a 2-D Gaussian mixture
whose density and score are known in closed form."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.distributions as td

from pyrogen.infer import AutoencoderTrainer
from pyrogen.metrics import mmd
from pyrogen.models import DenoisingAutoencoder

CENTERS = 1.2 * torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
WEIGHTS = torch.tensor([0.4, 0.3, 0.2, 0.1])
STD = 0.5  # of each component
SIGMA = 0.2  # the corruption, small against STD
STEPS = 1500


def _mixture() -> td.MixtureSameFamily:
    comps = td.Independent(td.Normal(CENTERS, STD), 1)
    return td.MixtureSameFamily(td.Categorical(WEIGHTS), comps)


def _dae(sigma: float) -> DenoisingAutoencoder:
    return DenoisingAutoencoder(
        2, code_dim=64, hidden=(64,), act="tanh", code_act="tanh", noise_level=sigma
    )


@functools.lru_cache(maxsize=2)
def _trained_dae(seed: int) -> DenoisingAutoencoder:
    """A DAE fitted on fresh mixture draws every step (about 3 s on one CPU thread)."""
    torch.manual_seed(seed)
    dae = _dae(SIGMA)
    optim = torch.optim.Adam(dae.parameters(), lr=1e-2)
    trainer = AutoencoderTrainer(dae, optim=optim)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, STEPS)
    p = _mixture()
    for _ in range(STEPS):
        trainer.step(p.sample((256,)))
        schedule.step()
    return dae.eval()


def _score(x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(_mixture().log_prob(x).sum(), x)
    return g


def _compare(d: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Cosine of the two vector fields (sum over points) and ||d - target|| / ||target||."""
    cos = float((d * target).sum() / (d.norm() * target.norm()))
    return cos, float((d - target).norm() / target.norm())


def test_corruptions_have_their_stated_law():
    torch.manual_seed(0)
    x = torch.full((200, 500), 0.5)
    gauss = DenoisingAutoencoder(500, 4, noise="gaussian", noise_level=0.3).corrupt(x)
    assert (gauss - x).std().item() == pytest.approx(0.3, rel=0.02)
    assert (gauss - x).mean().abs().item() < 0.005
    masked = DenoisingAutoencoder(500, 4, noise="masking", noise_level=0.25).corrupt(x)
    assert set(masked.unique().tolist()) == {0.0, 0.5}
    assert (masked == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)
    sp = DenoisingAutoencoder(500, 4, noise="salt_and_pepper", noise_level=0.2).corrupt(x)
    assert set(sp.unique().tolist()) == {0.0, 0.5, 1.0}
    assert (sp == 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert (sp == 1).float().mean().item() == pytest.approx(0.1, abs=0.01)


def test_denoising_loss_reconstructs_the_clean_input_from_the_corrupted_one():
    """recon = mean ||x - r(x~)||^2, with x~ drawn from the same random state."""
    torch.manual_seed(0)
    dae = DenoisingAutoencoder(3, 8, noise_level=0.5)
    x = torch.randn(16, 3)
    torch.manual_seed(1)
    out = dae.losses(x)
    torch.manual_seed(1)
    x_tilde = x + 0.5 * torch.randn(16, 3)
    expected = (dae(x_tilde) - x).pow(2).sum(1).mean()
    assert torch.allclose(out["recon"], expected)
    clean = (dae(x) - x).pow(2).sum(1).mean()
    assert not torch.allclose(out["recon"], clean)  # the loss really saw the corruption


def test_scale_fit_reaches_the_residual_rms_and_leaves_the_networks_alone():
    torch.manual_seed(0)
    dae = DenoisingAutoencoder(2, 8, noise_level=0.2)
    x = torch.randn(64, 2)
    out = dae.losses(x)
    nets = [*dae.encoder.parameters(), *dae.decoder.parameters()]
    grads = torch.autograd.grad(out["scale_nll"], [dae.raw_scale, *nets], allow_unused=True)
    assert grads[0].abs().sum() > 0
    assert all(g is None for g in grads[1:])  # the networks are trained by recon alone
    # With r fixed, the maximum-likelihood scale is the root mean squared residual.
    for p in nets:
        p.requires_grad_(False)
    optim = torch.optim.Adam([dae.raw_scale], lr=0.1)
    torch.manual_seed(1)
    residual = dae(x + 0.2 * torch.randn(64, 2)) - x  # the corruption losses() draws below
    for _ in range(150):
        torch.manual_seed(1)
        loss = dae.losses(x)["scale_nll"]
        optim.zero_grad()
        loss.backward()
        optim.step()
    rms = residual.pow(2).mean(0).sqrt()
    assert torch.allclose(dae.scale(), rms, rtol=0.01)


def test_reconstruction_minus_input_is_sigma_squared_times_the_score(stat_seed):
    """Alain & Bengio 2014: r(x) - x = sigma^2 d log p(x)/dx + o(sigma^2), at data points.

    The bound allows the smoothing bias (r* is exactly E[x | x~], whose field is sigma^2 times
    the score of p convolved with N(0, sigma^2): about 15% shorter here, at sigma/std = 0.4)
    and the fit's error. A DAE trained at twice the noise, compared at the stated sigma,
    fails it (its field is about 4 times too long)."""
    dae = _trained_dae(stat_seed)
    x = _mixture().sample((2000,))
    target = SIGMA**2 * _score(x)
    with torch.no_grad():
        d = dae(x) - x
        cos, rel = _compare(d, target)
        assert cos > 0.95 and rel < 0.35, (cos, rel)
        assert torch.allclose(dae.score(x), d / SIGMA**2)
        # Wrong readings fail the same check: the negated field, and no field at all.
        assert _compare(-d, target)[0] < 0
        assert _compare(torch.zeros_like(d), target)[1] == pytest.approx(1.0)


def test_a_dae_with_the_wrong_noise_fails_the_score_check():
    torch.manual_seed(0)
    dae = _dae(2 * SIGMA)
    trainer = AutoencoderTrainer(dae, lr=1e-2)
    for _ in range(500):
        trainer.step(_mixture().sample((256,)))
    x = _mixture().sample((2000,))
    target = SIGMA**2 * _score(x)
    with torch.no_grad():
        cos, rel = _compare(dae(x) - x, target)
    assert rel > 1.0, (cos, rel)


def _nearest(z: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Fraction of points nearest to each center, and the mean squared distance to it."""
    d, k = torch.cdist(z, CENTERS).min(dim=1)
    return torch.bincount(k, minlength=4).float() / len(z), float(d.pow(2).mean())


def _check_law(z: torch.Tensor, stat_seed: int) -> None:
    data = _mixture().sample((2000,))
    props, msd = _nearest(z)
    _, data_msd = _nearest(data)
    assert (props - WEIGHTS).abs().max() < 0.08, props
    assert 0.8 < msd / data_msd < 1.25, (msd, data_msd)
    assert float(mmd(z, data, bandwidth=STD)) < 0.004


def _chains(dae: DenoisingAutoencoder, kind: str, steps: int = 400) -> torch.Tensor:
    z = 6 * torch.rand(2000, 2) - 3  # far from the data law: uniform on a square
    if kind == "chain":
        return dae.sample_chain(z, steps)
    with torch.no_grad():
        for _ in range(steps):
            z_tilde = dae.corrupt(z)
            z = z_tilde if kind == "corruption only" else dae(z_tilde)
    return z


def test_the_chain_samples_the_data_distribution(stat_seed):
    """From a uniform start, 400 corruption/reconstruction steps give the mixture's law:
    the mode weights 0.4/0.3/0.2/0.1, the spread of each mode, and a small MMD."""
    dae = _trained_dae(stat_seed)
    torch.manual_seed(100 + stat_seed)
    _check_law(_chains(dae, "chain"), stat_seed)


@pytest.mark.parametrize("kind", ["corruption only", "mean reconstruction"])
def test_wrong_chains_fail_the_same_check(kind):
    """Corruption alone is a random walk; reconstructing to the mean (no sampling from
    P(x | x~)) sharpens every mode."""
    dae = _trained_dae(0)
    torch.manual_seed(100)
    with pytest.raises(AssertionError):
        _check_law(_chains(dae, kind), 0)


def test_chain_shapes_and_input_checks():
    torch.manual_seed(0)
    dae = DenoisingAutoencoder((1, 4, 4), 8, loss="bce", noise="salt_and_pepper", noise_level=0.1)
    x0 = torch.rand(3, 1, 4, 4)
    out = dae.sample_chain(x0, 5, trajectory=True)
    assert out.shape == (5, 3, 1, 4, 4)
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # Bernoulli reconstruction distribution
    with pytest.raises(ValueError, match="x0 must have shape"):
        dae.sample_chain(torch.rand(3, 16), 5)
    with pytest.raises(ValueError, match="Gaussian corruption and squared error"):
        dae.score(x0)
    with pytest.raises(ValueError, match="no scale"):
        dae.scale()
    with pytest.raises(ValueError, match="unknown corruption"):
        DenoisingAutoencoder(2, 2, noise="dropout")
    with pytest.raises(ValueError, match=r"fraction of values .* in \(0, 1\]"):
        DenoisingAutoencoder(2, 2, noise="masking", noise_level=1.5)
