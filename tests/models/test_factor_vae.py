import pytest
import torch

from pyrogen.infer import Stepper
from pyrogen.infer.factor_vae_trainer import FactorVAETrainer
from pyrogen.models.factor_vae import FactorVAE, permute_dims


def _train_discriminator(cov, steps=500, batch=256):
    torch.manual_seed(0)
    m = FactorVAE((4,), z_dim=len(cov), hidden=(8,), disc_hidden=(64,))
    trainer = FactorVAETrainer(m, lr_disc=3e-3)
    chol = torch.linalg.cholesky(cov)
    for _ in range(steps):
        trainer.discriminator_step(
            torch.randn(batch, len(cov)) @ chol.T, torch.randn(batch, len(cov)) @ chol.T
        )
    with torch.no_grad():
        return float(m.tc_estimate(torch.randn(20_000, len(cov)) @ chol.T))


@pytest.mark.parametrize(
    "cov",
    [
        torch.tensor([[1.0, 0.7, 0.3], [0.7, 1.0, 0.5], [0.3, 0.5, 1.0]]),
        torch.diag(torch.tensor([1.0, 4.0, 0.25])),
    ],
)
def test_density_ratio_tc_matches_gaussian_total_correlation(cov):
    """TC of N(0, S) is -1/2 log det(R), R the correlation matrix (0 for a diagonal S)."""
    d = cov.diagonal().sqrt()
    analytic = float(-0.5 * torch.logdet(cov / d[:, None] / d[None, :]))
    assert _train_discriminator(cov) == pytest.approx(analytic, abs=0.08)


def test_permute_dims_keeps_marginals_and_breaks_dependence():
    torch.manual_seed(0)
    z = torch.randn(4000, 1).repeat(1, 2)  # perfectly correlated columns
    zp = permute_dims(z)
    for j in range(2):
        assert torch.equal(zp[:, j].sort().values, z[:, j].sort().values)
    assert abs(float(torch.corrcoef(zp.T)[0, 1])) < 0.05


def test_stepper_reports_tc_and_updates_both_networks():
    torch.manual_seed(0)
    m = FactorVAE((1, 8, 8), z_dim=3, hidden=(16,), arch="conv", disc_hidden=(16,))
    trainer = FactorVAETrainer(m, gamma=10.0)
    assert isinstance(trainer, Stepper)
    x = torch.rand(16, 1, 8, 8).bernoulli()
    enc0 = m.loc_head.weight.clone()
    disc0 = m.discriminator[0].weight.clone()
    out = trainer.step(x)
    assert set(out) == {"loss", "elbo", "tc", "d_loss"}
    assert out["loss"] == pytest.approx(float(-out["elbo"] + 10.0 * out["tc"]), rel=1e-5)
    assert not torch.equal(enc0, m.loc_head.weight)
    assert not torch.equal(disc0, m.discriminator[0].weight)
    ev = trainer.evaluate(x)
    assert set(ev) == set(out) and all(torch.isfinite(v) for v in ev.values())
    state = trainer.state_dict()
    clone = FactorVAETrainer(
        FactorVAE((1, 8, 8), z_dim=3, hidden=(16,), arch="conv", disc_hidden=(16,))
    )
    clone.load_state_dict(state)
    assert torch.equal(clone.module.discriminator[0].weight, m.discriminator[0].weight)


def test_vae_step_gradient_includes_gamma_times_tc():
    """The VAE loss is -ELBO + gamma * mean logit(z): its encoder gradient depends on gamma."""
    m = FactorVAE((5,), z_dim=2, hidden=(8,), disc_hidden=(8,))
    x = torch.rand(8, 5).bernoulli()
    grads = []
    for gamma in (0.0, 10.0):
        trainer = FactorVAETrainer(m, gamma=gamma)
        torch.manual_seed(1)
        elbo, tc, _ = trainer._vae_terms(x)
        (-elbo + gamma * tc).backward()
        grads.append(m.loc_head.weight.grad.clone())
        m.zero_grad()
    torch.manual_seed(1)
    _, tc, _ = FactorVAETrainer(m)._vae_terms(x)
    (10.0 * tc).backward()
    assert torch.allclose(grads[1] - grads[0], m.loc_head.weight.grad, atol=1e-5)


def test_bad_inputs():
    m = FactorVAE((5,), z_dim=2, hidden=(8,), disc_hidden=(8,))
    with pytest.raises(ValueError, match="at least 4, got 2"):
        FactorVAETrainer(m).step(torch.ones(2, 5))
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        FactorVAETrainer(m, gamma=-1.0)
    with pytest.raises(ValueError, match=r"shape \(batch, dim\)"):
        permute_dims(torch.zeros(3))
