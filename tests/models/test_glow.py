"""Glow as a whole model: invertibility, the log-determinant and the factored-out density
against autograd, the dequantized bits/dim, temperature, and training through Pyro's SVI."""

from __future__ import annotations

import math

import pyro
import pyro.optim
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO

from pyrogen.models import Glow

F64 = torch.float64


def _perturb(m: Glow, scale: float = 0.2) -> Glow:
    """Moves every parameter off its identity-like initialization (zero last layers)."""
    with torch.no_grad():
        for p in m.parameters():
            p.add_(scale * torch.randn_like(p))
    return m


def _tiny(x_shape=(2, 4, 4), learn_prior=True, coupling="affine", dtype=F64) -> Glow:
    """Two levels of two steps on a small image; actnorm initialized, parameters perturbed."""
    torch.manual_seed(0)
    m = Glow(x_shape, 2, 2, hidden=6, coupling=coupling, learn_prior=learn_prior, dequantize=None)
    m = m.to(dtype)
    m.encode(1 + 2 * torch.randn(16, *x_shape, dtype=dtype))  # data-dependent actnorm init
    return _perturb(m)


def _flat(zs) -> torch.Tensor:
    return torch.cat([z.reshape(z.shape[0], -1) for z in zs], dim=1)


@pytest.mark.parametrize("coupling", ["affine", "additive"])
def test_whole_flow_inverts_both_ways_in_float64(coupling):
    m = _tiny(coupling=coupling)
    y = torch.randn(5, 2, 4, 4, dtype=F64)
    lat = m.encode(y)
    assert [tuple(z.shape[1:]) for z in lat.z] == m.z_shapes == [(4, 2, 2), (16, 1, 1)]
    assert torch.allclose(m.decode(lat.z), y, atol=1e-10, rtol=0)
    zs = [torch.randn(5, *s, dtype=F64) for s in m.z_shapes]  # z -> x -> z
    for back, z in zip(m.encode(m.decode(zs)).z, zs):
        assert torch.allclose(back, z, atol=1e-10, rtol=0)


@pytest.mark.parametrize("x_shape", [(1, 4, 4), (2, 4, 4)])
def test_log_det_is_slogdet_of_the_autograd_jacobian(x_shape):
    """log|det dz/dy| of the whole map (squeezes, steps, splits) from autograd."""
    m = _tiny(x_shape)
    y = torch.randn(3, *x_shape, dtype=F64)
    log_det = m.encode(y).log_det.detach()
    for i in range(3):
        jac = torch.autograd.functional.jacobian(
            lambda v: _flat(m.encode(v.reshape(1, *x_shape)).z)[0], y[i].reshape(-1)
        )
        sign, expected = torch.linalg.slogdet(jac)
        assert sign != 0 and abs(float(log_det[i] - expected)) < 1e-9


@pytest.mark.parametrize("learn_prior", [True, False])
def test_factored_out_density_is_the_density_of_the_unsplit_flow(learn_prior):
    """Standardize every latent with its prior, eps_l = (z_l - mu_l(h_l)) / sigma_l(h_l): the
    map y -> eps is one bijection onto N(0, I), so log p(y) = log N(eps; 0, I) +
    log|det d eps / dy|, computed here from the autograd Jacobian of the unsplit map."""
    m = _tiny(learn_prior=learn_prior)
    if learn_prior:
        assert len(m.split_priors) == 1 and bool(m.split_priors[0].weight.abs().sum() > 0)

    def eps(v: torch.Tensor) -> torch.Tensor:
        lat = m.encode(v.reshape(1, 2, 4, 4))
        out = []
        for level, (z, cond) in enumerate(zip(lat.z, lat.cond)):
            mean, log_std = m.prior(level, cond)
            out.append((z - mean) * torch.exp(-log_std))
        return _flat(out)[0]

    y = torch.randn(3, 2, 4, 4, dtype=F64)
    std_normal = torch.distributions.Normal(torch.zeros((), dtype=F64), 1.0)
    for i in range(3):
        v = y[i].reshape(-1)
        log_det = torch.linalg.slogdet(torch.autograd.functional.jacobian(eps, v)).logabsdet
        with torch.no_grad():
            expected = std_normal.log_prob(eps(v)).sum() + log_det
            assert abs(float(m.log_density(y[i : i + 1])[0] - expected)) < 1e-9


class _Uniform(Glow):
    """p(y) = 1 on [0, 1)^D: every 8-bit image is sent uncompressed, 8 bits per pixel."""

    def log_density(self, y: torch.Tensor) -> torch.Tensor:
        assert bool(((y >= 0) & (y < 1)).all())
        return y.new_zeros(y.shape[0])


class _Histogram(Glow):
    """p(y) = prod_d K pmf[floor(K y_d)]: constant on every cell, so the dequantized bound is
    exact: bits/dim = -sum_d log2 pmf[k_d] / D for every draw of u."""

    pmf = torch.softmax(torch.linspace(-3.0, 2.0, 256), 0)

    def log_density(self, y: torch.Tensor) -> torch.Tensor:
        k = (y * 256).floor().long()
        return torch.log(256 * self.pmf[k]).sum((1, 2, 3))


def test_bits_per_dim_of_known_discrete_models():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (6, 1, 4, 4)) / 255.0
    uniform = _Uniform((1, 4, 4), num_levels=1, num_steps=1, hidden=2)
    assert torch.allclose(uniform.bits_per_dim(x, num_samples=3), torch.full((6,), 8.0))
    assert torch.allclose(uniform.log_prob(x), torch.full((6,), -16 * math.log(256)))
    hist = _Histogram((1, 4, 4), num_levels=1, num_steps=1, hidden=2)
    k = torch.round(x * 255).long()
    expected = -torch.log2(_Histogram.pmf[k]).sum((1, 2, 3)) / 16
    assert torch.allclose(hist.bits_per_dim(x, num_samples=2), expected, atol=1e-5)


def test_dequantized_probabilities_sum_to_the_mass_in_the_unit_cube(stat_seed):
    """Binary 2x2 images (K = 2, D = 4): exp(log_prob) averaged over u estimates
    P(k) = int_cell p, and the 16 cells tile [0, 1)^4, so sum_k P(k) is the model's mass in
    the cube, which samples of the continuous model estimate independently."""
    torch.manual_seed(0)
    m = Glow((1, 2, 2), num_levels=1, num_steps=2, hidden=4, dequantize=2)
    m.encode(torch.rand(256, 1, 2, 2))  # actnorm fitted to the cube
    _perturb(m, 0.1)
    torch.manual_seed(stat_seed)
    bits = torch.tensor([[(i >> j) & 1 for j in range(4)] for i in range(16)]).float()
    x = bits.reshape(16, 1, 1, 2, 2).expand(16, 2000, 1, 2, 2).reshape(-1, 1, 2, 2)
    with torch.no_grad():
        prob = m.log_prob(x).exp().reshape(16, 2000).mean(1)
        y = m.sample(20000, quantize=False)
    inside = ((y >= 0) & (y < 1)).flatten(1).all(1).float().mean()
    assert 0.2 < float(inside) < 0.9
    assert abs(float(prob.sum() - inside)) < 0.03
    # Jensen: the one-sample bound is below log P(k) on average.
    assert bool((m.log_prob(x).reshape(16, 2000).mean(1) <= prob.log()).all())


def _latent_stds(m: Glow, y: torch.Tensor) -> list[float]:
    """Std of the standardized latents (z_l - mu_l) / sigma_l of samples y, per level."""
    lat = m.encode(y)
    out = []
    for level, (z, cond) in enumerate(zip(lat.z, lat.cond)):
        mean, log_std = m.prior(level, cond)
        out.append(float(((z - mean) * torch.exp(-log_std)).std()))
    return out


def test_temperature_scales_the_std_of_every_prior(stat_seed):
    m = _tiny()
    torch.manual_seed(stat_seed)
    with torch.no_grad():
        for t in (0.5, 1.0):
            stds = _latent_stds(m, m.sample(3000, temperature=t))
            assert all(abs(s - t) < 0.03 for s in stds), (t, stds)
        # A plausible wrong version, T scaling the variance (std sqrt(T)), fails the check.
        wrong = _latent_stds(m, m.sample(3000, temperature=math.sqrt(0.5)))
        assert not all(abs(s - 0.5) < 0.03 for s in wrong)
    cold = m.sample(4, temperature=0.0)
    assert torch.allclose(cold, cold[:1].expand_as(cold))


def test_trace_elbo_is_the_dequantization_bound_in_nats():
    """-ELBO with the empty guide = -log_prob(x) summed, the bound on -log P(x) in nats that
    bits/dim reports, for the same draw of u: the site observes K y = k + u in unit cells,
    whose density is p(y) / K^D; the continuous density of y itself would be D log K higher."""
    torch.manual_seed(0)
    m = Glow((1, 4, 4), num_levels=2, num_steps=2, hidden=8)
    x = torch.randint(0, 256, (32, 1, 4, 4)) / 255.0
    pyro.set_rng_seed(3)
    loss = Trace_ELBO().differentiable_loss(m.model, m.guide, x)  # also initializes actnorm
    pyro.set_rng_seed(3)
    expected = -m.log_prob(x).sum()
    assert torch.allclose(loss, expected, rtol=1e-5)
    pyro.set_rng_seed(3)
    y = m.dequantized(x)
    assert torch.allclose(loss, -(m.log_density(y) - 16 * math.log(256)).sum(), rtol=1e-5)
    tr = pyro.poutine.trace(m.model).get_trace(x)
    assert tr.nodes["x"]["is_observed"]
    assert [f.name for f in tr.nodes["x"]["cond_indep_stack"]] == ["data"]
    v = tr.nodes["x"]["value"]
    assert float(v.min()) >= 0.0 and float(v.max()) < 256.0  # levels k + u in [0, K)


def test_pyro_svi_trains_every_parameter():
    """Pyro's own SVI, in Pyro's default global parameter store, moves every parameter
    and lowers the bits/dim of the training batch."""
    x = torch.randint(0, 256, (32, 1, 4, 4)) / 255.0
    pyro.clear_param_store()
    with pyro.settings.context(module_local_params=False):
        torch.manual_seed(0)
        m = Glow((1, 4, 4), num_levels=2, num_steps=2, hidden=8)
        m.encode(m.dequantized(x))  # actnorm initialized before the first snapshot
        before = {n: p.detach().clone() for n, p in m.named_parameters()}
        pyro.set_rng_seed(1)
        start = float(m.bits_per_dim(x, num_samples=4).detach().mean())
        svi = SVI(m.model, m.guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
        for _ in range(25):
            svi.step(x)
        stored = {id(p) for _, p in pyro.get_param_store().named_parameters()}
    pyro.clear_param_store()
    params = dict(m.named_parameters())
    assert len(params) == 4 * (2 + 3 + 6) + 2  # actnorm 2, conv1x1 3, coupling 6; prior 2
    assert not [n for n, p in params.items() if id(p) not in stored]
    assert not [n for n, p in params.items() if torch.equal(p.detach(), before[n])]
    pyro.set_rng_seed(1)
    assert float(m.bits_per_dim(x, num_samples=4).detach().mean()) < start - 0.3


def test_bad_input_raises_value_error_saying_what_was_expected():
    m = Glow((1, 4, 4), num_levels=2, num_steps=1, hidden=4)
    with pytest.raises(ValueError, match="divisible by 8"):
        Glow((1, 4, 4), num_levels=3)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        Glow((16,))
    with pytest.raises(ValueError, match="shape"):
        m.log_prob(torch.rand(2, 1, 4, 5))
    with pyro.validation_enabled(True), pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.log_prob(2 * torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="temperature"):
        m.sample(2, temperature=-1.0)
    with pytest.raises(ValueError, match="one per level"):
        m.decode([torch.zeros(1, 8, 1, 1)])
