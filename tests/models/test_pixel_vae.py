"""PixelVAE: causal decoder, exact p(x | z), the ELBO by hand, SVI, sampling, receptive field."""

from __future__ import annotations

import math

import pyro
import pyro.optim
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO

from pyrogen.metrics import log_likelihood
from pyrogen.models import PixelVAE, PixelVAEDecoder


def _model(side: int = 8, num_layers: int = 3, kernel_size: int = 3, **kw) -> PixelVAE:
    torch.manual_seed(0)
    kw = {"z_dim": 3, "hidden": 16, "channels": 8, "cond_channels": 4} | kw
    m = PixelVAE((1, side, side), num_layers=num_layers, kernel_size=kernel_size, **kw)
    return m.double()


def _binary(n: int, side: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, side, side, generator=g, dtype=torch.float64).round()


def causality_violations(dec: PixelVAEDecoder, side: int) -> int:
    """Number of (i, j) with j at or after i in raster order and d logit_i / d x_j != 0."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 1, side, side, generator=g, dtype=torch.float64)
    z = torch.randn(1, dec.upsample.linear[0].in_features, generator=g, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: dec(v, z).flatten(), x).reshape(
        side * side, side * side
    )  # (output pixel i, input pixel j), raster order
    assert jac.tril(-1).abs().sum() > 0  # it does read earlier pixels
    return int((jac.triu() != 0).sum())


def test_decoder_is_causal_by_gradient_and_a_leaky_mask_is_caught():
    m = _model(num_layers=3)
    assert causality_violations(m.decoder, 8) == 0
    # Plausible mistakes: mask B in the first layer (each pixel sees itself), or a later
    # kernel that reads the row below. The same check must flag both.
    with torch.no_grad():
        m.decoder.input_conv.mask[:, :, 1, 1] = 1
    assert causality_violations(m.decoder, 8) > 0
    m = _model(num_layers=3)
    with torch.no_grad():
        m.decoder.layers[0].mask[:, :, 2, 0] = 1
    assert causality_violations(m.decoder, 8) > 0


def test_latent_reaches_every_pixel():
    m = _model()
    x = _binary(1)
    z = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    logits = m.decode(x, z)
    for r, c in [(0, 0), (3, 5), (7, 7)]:
        (gz,) = torch.autograd.grad(logits[0, 0, r, c], z, retain_graph=True)
        assert gz.abs().sum() > 0


def expected_field(num_layers: int, kernel_size: int) -> set[tuple[int, int]]:
    """Offsets (dr, dc) a PixelCNN logit reads, by hand: a path of L masked k x k layers
    moves each step up to r = k//2 rows up (then anywhere within r columns) or stays on the
    row and moves left (strictly, for mask A; or not at all, mask B). Going m rows up takes
    at least one layer per row moved, so the right edge of row -m is r * min(m, L): the
    blind spot. The left edge is -L r on every row."""
    r = kernel_size // 2
    reach = num_layers * r
    field = {(0, dc) for dc in range(-reach, 0)}
    for m in range(1, reach + 1):
        field |= {(-m, dc) for dc in range(-reach, r * min(m, num_layers) + 1)}
    return field


@pytest.mark.parametrize("num_layers, kernel_size", [(1, 3), (2, 3), (3, 3), (5, 3), (3, 5)])
def test_receptive_field_by_gradient_support(num_layers, kernel_size):
    side, row, col = 16, 14, 8
    m = _model(side, num_layers, kernel_size)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(16, 1, side, side, generator=g, dtype=torch.float64, requires_grad=True)
    z = torch.randn(16, 3, generator=g, dtype=torch.float64)
    m.decode(x, z)[:, 0, row, col].sum().backward()
    assert x.grad is not None
    reached = (x.grad[:, 0] != 0).any(0).nonzero().tolist()  # union over 16 inputs
    got = {(r - row, c - col) for r, c in reached}
    want = expected_field(num_layers, kernel_size)
    assert got == want
    # The decoder's own account, from its masks, agrees.
    reach = m.decoder.reach
    assert reach == num_layers * (kernel_size // 2)
    field = m.decoder.receptive_field()
    assert {(r - reach, c - reach) for r, c in field.nonzero().tolist()} == want


def test_receptive_field_grows_with_depth():
    sizes = [len(expected_field(n, 3)) for n in (1, 2, 3, 6)]
    assert sizes == [4, 11, 21, 69]
    got = [int(_model(16, n).decoder.receptive_field().sum()) for n in (1, 2, 3, 6)]
    assert got == sizes


def test_log_likelihood_given_z_is_the_sum_of_pixelwise_bernoullis():
    """log p(x | z) from one pass equals sum_i log Bernoulli(x_i | f_i) with every f_i
    computed from an image whose pixels from i on are replaced by noise."""
    m = _model(num_layers=2)
    x = _binary(3)
    z = torch.randn(3, 3, dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    total = torch.zeros(3, dtype=torch.float64)
    flat = x.reshape(3, -1)
    for i in range(64):
        scrambled = flat.clone()
        scrambled[:, i:] = torch.rand(3, 64 - i, generator=g, dtype=torch.float64).round()
        with torch.no_grad():
            f = m.decoder(scrambled.reshape(3, 1, 8, 8), z).reshape(3, -1)[:, i]
        p = torch.sigmoid(f)
        total += flat[:, i] * torch.log(p) + (1 - flat[:, i]) * torch.log1p(-p)
    with torch.no_grad():
        one_pass = m.conditional_log_prob(x, z)
        tr = poutine.trace(poutine.condition(m.model, data={"z": z})).get_trace(x)
    assert torch.allclose(one_pass, total, rtol=1e-10)
    assert torch.allclose(tr.nodes["x"]["fn"].log_prob(x), total, rtol=1e-10)


def _normal_log_density(v: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (-0.5 * ((v - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def test_elbo_through_pyro_equals_the_bound_computed_by_hand():
    m = _model()
    x = _binary(4)
    pyro.set_rng_seed(5)
    loss_mc = Trace_ELBO().loss(m.model, m.guide, x)
    pyro.set_rng_seed(5)
    loss_analytic = TraceMeanField_ELBO().loss(m.model, m.guide, x)
    pyro.set_rng_seed(5)
    z = poutine.trace(m.guide).get_trace(x).nodes["z"]["value"]  # the same draw
    with torch.no_grad():
        loc, scale = m.encode(x)
        recon = m.conditional_log_prob(x, z)
        zeros, ones = torch.zeros_like(z), torch.ones_like(z)
        log_q, log_p = _normal_log_density(z, loc, scale), _normal_log_density(z, zeros, ones)
        kl = 0.5 * (loc**2 + scale**2 - 1 - 2 * scale.log()).sum(-1)
    assert loss_mc == pytest.approx(float(-(recon + log_p - log_q).sum()), rel=1e-10)
    assert loss_analytic == pytest.approx(float(-(recon - kl).sum()), rel=1e-10)
    assert abs(loss_mc - loss_analytic) > 1e-6  # the two estimates differ on one draw


def test_pyro_svi_trains_every_parameter():
    """Pyro's own SVI, in its default global parameter-store mode, sees and moves every
    network parameter."""
    pyro.clear_param_store()
    with pyro.settings.context(module_local_params=False):
        m = _model(num_layers=2)
        x = _binary(8)
        before = {n: p.detach().clone() for n, p in m.named_parameters()}
        svi = SVI(m.model, m.guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
        losses = [svi.step(x) for _ in range(5)]
        stored = {id(p) for _, p in pyro.get_param_store().named_parameters()}
    pyro.clear_param_store()
    assert all(math.isfinite(v) for v in losses)
    assert [n for n, p in m.named_parameters() if id(p) not in stored] == []
    stuck = [n for n, p in m.named_parameters() if torch.equal(before[n], p.detach())]
    assert not stuck, f"parameters SVI did not update: {stuck}"


def test_samples_are_binary_with_the_right_shape():
    m = _model(num_layers=2)
    x = m.sample(5)
    assert x.shape == (5, 1, 8, 8) and x.dtype == torch.float64
    assert set(x.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("num_layers", [1, 3])
def test_generated_images_are_a_fixed_point_of_the_decoder(num_layers):
    """x_i = 1 iff u_i < sigmoid(f_i(x_<i, z)) at every pixel, f from one full pass: the
    sampler reads each pixel's conditional given the pixels it has already drawn."""
    side = 12  # taller than the band of reach + 1 rows the sampler evaluates
    m = _model(side, num_layers)
    g = torch.Generator().manual_seed(6)
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    u = torch.rand(4, 1, side, side, generator=g, dtype=torch.float64)

    def consistent(x: torch.Tensor) -> bool:
        with torch.no_grad():
            return torch.equal(x, (u < torch.sigmoid(m.decode(x, z))).to(x.dtype))

    x = m.generate(z, u)
    assert consistent(x)
    assert 0 < x.mean() < 1
    # A sampler that draws every pixel from one pass over an empty canvas fails the check.
    with torch.no_grad():
        one_pass = (u < torch.sigmoid(m.decode(torch.zeros_like(x), z))).to(x.dtype)
    assert not consistent(one_pass)


@pytest.mark.parametrize("num_layers, kernel_size", [(1, 3), (3, 3), (2, 5)])
def test_a_band_of_reach_rows_gives_the_bottom_row_exactly(num_layers, kernel_size):
    """What the sampler relies on: rows r - reach .. r of x and of c(z) fix row r's logits;
    one row fewer does not."""
    side = 12
    dec = _model(side, num_layers, kernel_size).decoder
    g = torch.Generator().manual_seed(8)
    x = torch.rand(2, 1, side, side, generator=g, dtype=torch.float64).round()
    cond = dec.condition(torch.randn(2, 3, generator=g, dtype=torch.float64))
    with torch.no_grad():
        full = dec.logits(x, cond)
        for r in range(dec.reach, side):
            for top, exact in [(r - dec.reach, True), (r - dec.reach + 1, False)]:
                band = dec.logits(x[:, :, top : r + 1], cond[:, :, top : r + 1])
                same = torch.allclose(band[:, :, -1], full[:, :, r], rtol=1e-12, atol=1e-12)
                assert same == exact, (r, top)


def test_importance_sampling_runs_with_particle_dimensions():
    m = _model()
    x = _binary(3)
    z = torch.randn(2, 3, 3, dtype=torch.float64)  # (particles, B, z_dim)
    with torch.no_grad():
        both = m.decode(x, z)
        assert both.shape == (2, 3, 1, 8, 8)
        assert torch.allclose(both[1], m.decode(x, z[1]))
        est = log_likelihood(m, x, num_samples=6, chunk_size=4)
    assert est.shape == (3,) and torch.isfinite(est).all()
    # One importance sample is the single-draw bound log p(x | z) + log p(z) - log q(z | x).
    pyro.set_rng_seed(7)
    one = log_likelihood(m, x, num_samples=1)
    pyro.set_rng_seed(7)
    z = poutine.trace(m.guide).get_trace(x).nodes["z"]["value"]
    with torch.no_grad():
        loc, scale = m.encode(x)
        zeros, ones = torch.zeros_like(z), torch.ones_like(z)
        bound = (
            m.conditional_log_prob(x, z)
            + _normal_log_density(z, zeros, ones)
            - _normal_log_density(z, loc, scale)
        )
    assert torch.allclose(one, bound, rtol=1e-10)


def test_bad_inputs_have_clear_errors():
    m = _model()
    with pytest.raises(ValueError, match="binary"):
        m.guide(torch.full((2, 1, 8, 8), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 8, 8\)"):
        m.guide(torch.zeros(2, 64, dtype=torch.float64))
    with pytest.raises(ValueError, match="sample"):
        m.model(None)
    with pytest.raises(ValueError, match=r"z must have shape \(N, 3\)"):
        m.generate(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="divisible by 4"):
        PixelVAE((1, 10, 10))
    with pytest.raises(ValueError, match="one-channel"):
        PixelVAE((3, 8, 8))
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        PixelVAE((1, 8, 8), num_layers=0)
    with pytest.raises(ValueError, match="odd"):
        PixelVAE((1, 8, 8), kernel_size=4)
