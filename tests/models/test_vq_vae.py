import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.infer import Stepper, VQVAETrainer
from pyrogen.models import VQVAE, PixelCNN


def _vq(**kw):
    torch.manual_seed(0)
    return VQVAE((1, 8, 8), num_codes=16, code_dim=4, hidden=8, **kw)


def test_straight_through_gradient_reaches_the_encoder():
    """Only the reconstruction term: the encoder still gets a gradient through argmin."""
    vq = _vq()
    x = torch.rand(4, 1, 8, 8)
    q = vq.quantize(x)
    recon = -vq.likelihood.dist(vq.decoder(q.z_q), 3).log_prob(x).sum()
    grads = torch.autograd.grad(recon, list(vq.encoder.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_loss_is_recon_plus_codebook_plus_beta_commitment():
    vq = _vq(beta=0.25)
    out = vq.losses(torch.rand(4, 1, 8, 8))
    expected = out["recon"] + out["codebook"] + 0.25 * out["commitment"]
    assert torch.allclose(out["loss"], expected)
    ema = _vq(beta=0.25, ema=True).losses(torch.rand(4, 1, 8, 8))
    assert torch.allclose(ema["loss"], ema["recon"] + 0.25 * ema["commitment"])


def test_pyro_elbo_is_reconstruction_minus_constant_kl():
    """Point-mass guide, uniform prior: -ELBO = -log p(x|z_q) + h w log K per example."""
    vq = _vq()
    vq.eval()
    x = torch.rand(3, 1, 8, 8)
    neg_elbo = Trace_ELBO().loss(vq.model, vq.guide, x)
    recon = float(vq.losses(x)["recon"].detach())
    assert neg_elbo / 3 == pytest.approx(recon + vq.kl_constant(), rel=1e-5)
    assert vq.kl_constant() == pytest.approx(4 * torch.log(torch.tensor(16.0)).item())


def test_trainer_reduces_the_loss_and_reports_usage():
    vq = _vq()
    trainer = VQVAETrainer(vq, lr=3e-3)
    assert isinstance(trainer, Stepper)
    x = torch.rand(16, 1, 8, 8).round()
    first = trainer.evaluate(x)["loss"]
    for _ in range(30):
        out = trainer.step(x)
    assert trainer.evaluate(x)["loss"] < first
    assert {"recon", "mse", "codebook", "commitment", "perplexity", "usage"} <= set(out)
    assert 1.0 <= out["perplexity"] <= 16.0 and 0.0 < out["usage"] <= 1.0


def test_prior_log_prob_matches_pyro_model_and_sampling_shape():
    """The code prior (causal by gradient and normalized with the other autoregressive
    families, in test_autoregressive.py) scores code grids at the site "x" and draws grids
    that VQVAE.sample decodes, through its one-hot input: a network that read the codes as
    numbers would give different logits for a relabelled codebook."""
    torch.manual_seed(0)
    prior = PixelCNN.for_codes(num_codes=5, shape=(3, 3), channels=8, num_layers=1)
    z = torch.randint(5, (4, 1, 3, 3)).float()
    assert torch.allclose(
        torch.tensor(-Trace_ELBO().loss(prior.model, prior.guide, z)),
        prior.log_prob(z).sum(),
        atol=1e-4,
    )
    s = prior.sample(6)
    assert s.shape == (6, 1, 3, 3) and s.min() >= 0 and s.max() < 5 and (s == s.round()).all()
    # One-hot input: permuting the codes permutes the input channels of the first layer.
    perm = torch.tensor([3, 0, 4, 1, 2])
    relabelled = PixelCNN.for_codes(num_codes=5, shape=(3, 3), channels=8, num_layers=1)
    relabelled.load_state_dict(prior.state_dict())
    with torch.no_grad():
        relabelled.input_conv.weight[:, perm] = prior.input_conv.weight
    z_relabelled = perm[z.long()].float()
    assert torch.allclose(
        relabelled.input_conv(relabelled._encode(z_relabelled)),
        prior.input_conv(prior._encode(z)),
        atol=1e-6,
    )
    vq = VQVAE((1, 12, 12), num_codes=5, code_dim=2, hidden=4, prior=prior)
    assert vq.sample(2).shape == (2, 1, 12, 12)


def test_bad_inputs_fail_fast():
    with pytest.raises(ValueError, match="divisible by 4"):
        VQVAE((1, 10, 10))
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 8, 8\)"):
        _vq().losses(torch.rand(2, 8, 8))
    prior = PixelCNN.for_codes(num_codes=5, shape=(3, 3), channels=8, num_layers=1)
    with pyro.validation_enabled(True), pytest.raises(ValueError, match=r"integers in \[0, 4\]"):
        prior.log_prob(torch.full((1, 1, 3, 3), 7.0))
    with pytest.raises(ValueError, match="conditioned on a code grid"):
        PixelCNN.for_codes(5, (3, 3), channels=8, num_layers=1, cond_codes=2)(
            torch.zeros(1, 1, 3, 3)
        )
    with pytest.raises(ValueError, match="needs the categorical likelihood"):
        PixelCNN((1, 3, 3), one_hot_input=True)
    with pytest.raises(ValueError, match=r"\(n, h, w\) or \(n, 1, h, w\)"):
        VQVAE((1, 12, 12), num_codes=5, prior=PixelCNN((2, 3, 3), channels=8)).sample(1)
    with pytest.raises(TypeError, match="needs a VQVAE"):
        VQVAETrainer(prior)
