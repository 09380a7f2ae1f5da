import math

import pyro
import pyro.optim
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO

from pyrogen.infer import VQVAETrainer
from pyrogen.models import VQVAE2, PixelCNN


def _vq(x_shape=(1, 28, 28), **kw):
    torch.manual_seed(0)
    return VQVAE2(x_shape, num_codes=16, num_top_codes=8, code_dim=4, hidden=8, **kw)


def _nearest(z_e, codebook):
    """Brute-force nearest code of every position of z_e (B, D, h, w): indices and codes."""
    flat = z_e.permute(0, 2, 3, 1)  # (B, h, w, D)
    d2 = (flat[..., None, :] - codebook).pow(2).sum(-1)  # (B, h, w, K)
    idx = d2.argmin(-1)
    return idx, codebook[idx].permute(0, 3, 1, 2)


@pytest.mark.parametrize(
    "x_shape, top, bottom",
    [((1, 28, 28), (4, 4), (7, 7)), ((3, 32, 16), (4, 2), (8, 4)), ((1, 4, 4), (1, 1), (1, 1))],
)
def test_code_grids_are_a_quarter_and_an_eighth_of_the_image(x_shape, top, bottom):
    """Bottom grid H/4 x W/4, top grid ceil(H/8) x ceil(W/8): odd and even grids decode back."""
    vq = _vq(x_shape)
    assert vq.latent_shape == bottom and vq.top_shape == top
    x = torch.rand(2, *x_shape)
    t, b = vq.codes(x)
    assert t.shape == (2, *top) and b.shape == (2, *bottom)
    assert t.max() < 8 and b.max() < 16
    assert vq.reconstruct(x).shape == x.shape and vq.sample(3).shape == (3, *x_shape)


def test_straight_through_gradient_reaches_both_encoders():
    """The reconstruction term alone trains the top encoder, the bottom encoder and the
    bridge from the top codes to the bottom encoder, through both argmins."""
    vq = _vq()
    x = torch.rand(4, 1, 28, 28)
    top, bottom = vq.quantize(x)
    z = torch.cat([bottom.z_q, vq.upsample_top(top.z_q)], dim=1)
    recon = -vq.likelihood.dist(vq.decoder(z), 3).log_prob(x).sum()
    for part in (vq.encoder_bottom, vq.encoder_top, vq.top_to_bottom, vq.pre_quantize_bottom):
        grads = torch.autograd.grad(recon, list(part.parameters()), retain_graph=True)
        assert all(torch.isfinite(g).all() for g in grads)
        assert all(g.abs().sum() > 0 for g in grads)


def test_vq_terms_equal_an_independent_computation_of_algorithm_1():
    """Top codes from E_top(x); bottom codes from E_bottom(x, e_top) with the *quantized* top;
    codebook and commitment terms ||z_e - e||^2 per example; loss = recon + sum of codebook
    terms + beta * sum of commitment terms."""
    vq = _vq(beta=0.3)
    with torch.no_grad():  # codes spread out, so that no two are nearly equidistant
        vq.quantizer_top.codebook.copy_(torch.randn(8, 4))
        vq.quantizer_bottom.codebook.copy_(torch.randn(16, 4))
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    out = vq.losses(x)
    with torch.no_grad():
        feats = vq.encoder_bottom(x)
        z_top = vq.encoder_top(feats)
        idx_top, e_top = _nearest(z_top, vq.quantizer_top.codebook)
        z_bot = vq.pre_quantize_bottom(torch.cat([feats, vq.top_to_bottom(e_top)], 1))
        idx_bot, e_bot = _nearest(z_bot, vq.quantizer_bottom.codebook)
        top, bottom = vq.codes(x)
        assert torch.equal(top, idx_top) and torch.equal(bottom, idx_bot)
        sq_top = (z_top - e_top).pow(2).sum() / 5
        sq_bot = (z_bot - e_bot).pow(2).sum() / 5
        params = vq.decode_codes(idx_top, idx_bot)
        recon = -vq.likelihood.dist(params, 3).log_prob(x).sum() / 5
    for name, want in [("top", sq_top), ("bottom", sq_bot)]:
        assert out[f"codebook_{name}"] == pytest.approx(float(want), rel=1e-5)
        assert out[f"commitment_{name}"] == pytest.approx(float(want), rel=1e-5)
    expected = recon + (sq_top + sq_bot) + 0.3 * (sq_top + sq_bot)
    assert float(out["loss"].detach()) == pytest.approx(float(expected), rel=1e-5)
    # The bottom encoder must see the quantized top: with the unquantized z_top it differs.
    with torch.no_grad():
        z_wrong = vq.pre_quantize_bottom(torch.cat([feats, vq.top_to_bottom(z_top)], 1))
        wrong = (z_wrong - _nearest(z_wrong, vq.quantizer_bottom.codebook)[1]).pow(2).sum() / 5
    assert float(out["codebook_bottom"]) != pytest.approx(float(wrong), rel=1e-3)


def test_decoding_the_codes_reproduces_the_forward_reconstruction():
    """decode_codes(codes(x)) gives the likelihood of the training forward pass (the
    straight-through z_q equals the codes up to float rounding), and the decoder reads both
    levels: replacing either grid changes the output."""
    vq = _vq()
    vq.eval()
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        out = vq.losses(x)
        top, bottom = vq.codes(x)
        params = vq.decode_codes(top, bottom)
        recon = -vq.likelihood.dist(params, 3).log_prob(x).mean()
    assert float(recon) == pytest.approx(float(out["recon"]), rel=1e-6, abs=1e-6)
    mean = vq.reconstruct(x)
    assert torch.allclose(mean, vq.likelihood.mean(params, 3))
    assert float((mean - x).pow(2).mean()) == pytest.approx(float(out["mse"]), rel=1e-6)
    other_top = (top + 1) % 8
    other_bottom = (bottom + 1) % 16
    with torch.no_grad():
        assert not torch.allclose(vq.decode_codes(other_top, bottom), params, atol=1e-4)
        assert not torch.allclose(vq.decode_codes(top, other_bottom), params, atol=1e-4)


def test_pyro_elbo_is_reconstruction_minus_constant_kl_over_both_grids():
    vq = _vq()
    vq.eval()
    x = torch.rand(3, 1, 28, 28)
    neg_elbo = Trace_ELBO().loss(vq.model, vq.guide, x)
    recon = float(vq.losses(x)["recon"].detach())
    assert vq.kl_constant() == pytest.approx(49 * math.log(16) + 16 * math.log(8))
    assert neg_elbo / 3 == pytest.approx(recon + vq.kl_constant(), rel=1e-5)


def test_trainer_and_pyro_svi_reduce_the_loss_and_leave_the_priors_alone():
    top_prior = PixelCNN.for_codes(8, (4, 4), channels=8, num_layers=1)
    bottom_prior = PixelCNN.for_codes(16, (7, 7), channels=8, num_layers=1, cond_codes=8)
    vq = _vq(top_prior=top_prior, bottom_prior=bottom_prior)
    frozen = {n: p.detach().clone() for n, p in vq.named_parameters() if n.startswith("prior.")}
    assert frozen  # the priors are sub-modules of the model...
    trainer = VQVAETrainer(vq, lr=3e-3)
    x = torch.rand(16, 1, 28, 28).round()
    first = trainer.evaluate(x)["loss"]
    for _ in range(25):
        out = trainer.step(x)
    assert trainer.evaluate(x)["loss"] < first
    for level, k in (("top", 8), ("bottom", 16)):
        assert 1.0 <= out[f"perplexity_{level}"] <= k and 0.0 < out[f"usage_{level}"] <= 1.0
    params = dict(vq.named_parameters())
    assert all(torch.equal(params[n], p) for n, p in frozen.items())  # ...not trained here

    # Pyro's own SVI, in its default global parameter store, trains decoder and codebooks.
    pyro.clear_param_store()
    with pyro.settings.context(module_local_params=False):
        vq = _vq()
        svi = SVI(vq.model, vq.guide, pyro.optim.Adam({"lr": 3e-3}), Trace_ELBO())
        before = svi.evaluate_loss(x)
        for _ in range(25):
            svi.step(x)
        assert svi.evaluate_loss(x) < before
    pyro.clear_param_store()


def test_bottom_prior_output_follows_the_top_codes():
    """Changing one top code changes the logits below it, even at the first position, which
    sees no bottom code at all; the unconditional prior has no condition parameters. (The
    conditional prior is causal by gradient and normalized for every condition with the
    other autoregressive families, in test_autoregressive.py.)"""
    prior = PixelCNN.for_codes(num_codes=5, shape=(4, 4), channels=8, num_layers=2, cond_codes=3)
    z = torch.randint(5, (1, 1, 4, 4)).float()
    cond = torch.tensor([[[0, 2], [1, 1]]])
    changed = cond.clone()
    changed[0, 0, 0] = 1
    diff = (prior(z, cond) - prior(z, changed)).abs().sum(1)[0, 0]  # (4, 4)
    assert diff[0, 0] > 0 and diff[:2, :2].min() > 0
    plain = PixelCNN.for_codes(num_codes=5, shape=(4, 4), channels=8, num_layers=2)
    assert not [n for n, _ in plain.named_parameters() if n.startswith("condition")]


def _copy_task(n, seed):
    """Top: one code in [0, 4) per example; bottom: a 2x2 grid repeating it."""
    gen = torch.Generator().manual_seed(seed)
    top = torch.randint(4, (n, 1, 1), generator=gen)
    return top, top.expand(n, 2, 2)[:, None].float()


@pytest.mark.parametrize("cond_codes", [4, 0], ids=["conditional", "unconditional"])
def test_a_trained_bottom_prior_uses_the_condition(cond_codes, stat_seed):
    """When the bottom grid copies the top code, p(bottom | top) learns it (NLL near 0) and
    needs the true top (another example's top costs more than log 4), while an
    unconditional prior, the implementation that drops the condition, cannot beat the
    entropy of the first position, log 4 = 1.39 nats."""
    torch.manual_seed(stat_seed)
    prior = PixelCNN.for_codes(4, (2, 2), channels=16, num_layers=1, cond_codes=cond_codes)
    top, bottom = _copy_task(256, stat_seed)
    optim = torch.optim.Adam(prior.parameters(), lr=1e-2)
    c = top if cond_codes else None
    for _ in range(150):
        loss = -prior.log_prob(bottom, c).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    t_test, b_test = _copy_task(512, stat_seed + 100)
    with torch.no_grad():
        nll = -prior.log_prob(b_test, t_test if cond_codes else None).mean()
    if cond_codes:
        assert nll < 0.2
        shuffled = t_test[torch.randperm(512)]
        assert -prior.log_prob(b_test, shuffled).mean() > math.log(4)
    else:
        assert nll > math.log(4) - 0.1


def test_sampling_runs_top_prior_then_bottom_prior_given_the_top():
    top_prior = PixelCNN.for_codes(8, (4, 4), channels=8, num_layers=1)
    bottom_prior = PixelCNN.for_codes(16, (7, 7), channels=8, num_layers=1, cond_codes=8)
    vq = _vq(top_prior=top_prior, bottom_prior=bottom_prior)
    torch.manual_seed(1)
    top, bottom = vq.sample_codes(5)
    torch.manual_seed(1)
    want_top = top_prior.sample(5)
    want_top = want_top[:, 0].long()
    want_bottom = bottom_prior.sample(5, y=want_top)[:, 0].long()
    assert torch.equal(top, want_top) and torch.equal(bottom, want_bottom)
    assert vq.sample(2).shape == (2, 1, 28, 28)


def test_bad_inputs_fail_fast():
    with pytest.raises(ValueError, match="divisible by 4"):
        VQVAE2((1, 10, 10))
    vq = _vq()
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 28, 28\)"):
        vq.losses(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match=r"top codes must have shape \(batch, 4, 4\)"):
        vq.decode_codes(torch.zeros(1, 7, 7, dtype=torch.long), torch.zeros(1, 7, 7).long())
    cond_prior = PixelCNN.for_codes(5, (3, 3), channels=8, num_layers=1, cond_codes=2)
    z = torch.zeros(2, 1, 3, 3)
    with pytest.raises(ValueError, match="conditioned on a code grid"):
        cond_prior.log_prob(z)
    with pytest.raises(ValueError, match=r"integers in \[0, 1\]"):
        cond_prior.log_prob(z, torch.full((2, 1, 1), 2))
    with pytest.raises(ValueError, match="unconditional"):
        PixelCNN.for_codes(5, (3, 3), channels=8, num_layers=1).log_prob(
            z, torch.zeros(2, 1, 1).long()
        )
    with pytest.raises(ValueError, match="cond_codes must be >= 0"):
        PixelCNN.for_codes(5, (3, 3), cond_codes=-1)
    assert cond_prior(z, torch.ones(2, 1, 1).long()).shape == (2, 5, 1, 3, 3)  # good input
