import math

import pyro
import pytest
import torch

from pyrogen.models import Generator, apply_attribute, attribute_vector, lerp, slerp
from pyrogen.models.latent_arithmetic import angle


def plane(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two orthonormal vectors e, e' in R^d (QR of a random matrix)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))
    return q[:, 0], q[:, 1]


def acos_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The textbook angle, in float64, independent of the module's atan2 form."""
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    return torch.acos(cos.clamp(-1, 1))


def test_lerp_ends_midpoint_and_shape():
    z0, z1 = torch.randn(3, 5), torch.randn(3, 5)
    out = lerp(z0, z1, 5)
    assert out.shape == (5, 3, 5)
    assert torch.equal(out[0], z0) and torch.equal(out[-1], z1)
    assert torch.allclose(out[2], (z0 + z1) / 2)
    # Equally spaced: constant steps along the segment.
    steps = out.diff(dim=0)
    assert torch.allclose(steps, ((z1 - z0) / 4).expand_as(steps), atol=1e-6)


def test_slerp_endpoints_are_exact():
    z0, z1 = torch.randn(4, 16), torch.randn(4, 16)
    out = slerp(z0, z1, 7)
    assert out.shape == (7, 4, 16)
    assert torch.equal(out[0], z0) and torch.equal(out[-1], z1)


@pytest.mark.parametrize("theta", [0.3, 1.0, math.pi / 2, 2.5, 3.0])
def test_slerp_of_unit_vectors_is_the_great_circle_at_constant_speed(theta):
    e, e2 = plane(10, seed=int(10 * theta))
    z0 = e
    z1 = math.cos(theta) * e + math.sin(theta) * e2
    steps = 9
    out = slerp(z0, z1, steps)
    # Independent construction of the arc: cos(t theta) e + sin(t theta) e'.
    t = torch.linspace(0, 1, steps, dtype=torch.float64).unsqueeze(-1)
    arc = torch.cos(t * theta) * e + torch.sin(t * theta) * e2
    assert torch.allclose(out, arc, atol=1e-10)
    # Equal angles between consecutive points, summing to theta; every norm is 1.
    gaps = acos_angle(out[:-1], out[1:])
    assert torch.allclose(gaps, torch.full_like(gaps, theta / (steps - 1)), atol=1e-7)
    assert torch.allclose(out.norm(dim=-1), torch.ones(steps, dtype=torch.float64))


def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    # Two Gaussian latents of the same norm r: slerp stays at r all the way; the lerp midpoint
    # has norm r cos(theta / 2) (the chord's midpoint), White's argument against lerp.
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(64, dtype=torch.float64, generator=g)
    z1 = torch.randn(64, dtype=torch.float64, generator=g)
    z1 = z1 * z0.norm() / z1.norm()
    r, theta = z0.norm(), acos_angle(z0, z1)
    assert torch.allclose(slerp(z0, z1, 11).norm(dim=-1), r.expand(11))
    assert torch.allclose(lerp(z0, z1, 11)[5].norm(), r * torch.cos(theta / 2))


def test_slerp_with_unequal_norms_follows_the_formula():
    # Orthogonal ends of norms r0, r1: the formula gives the quarter ellipse
    # r0 cos(t pi/2) e + r1 sin(t pi/2) e', with norm sqrt(r0^2 cos^2 + r1^2 sin^2).
    e, e2 = plane(6, seed=3)
    r0, r1 = 2.0, 5.0
    out = slerp(r0 * e, r1 * e2, 6)
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    c, s = torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)
    expected = (r0**2 * c**2 + r1**2 * s**2).sqrt()
    assert torch.allclose(out.norm(dim=-1), expected, atol=1e-10)
    # Not the linear interpolation of the norms (which a plausible variant would give).
    assert not torch.allclose(out.norm(dim=-1), r0 + (r1 - r0) * t, atol=1e-2)


@pytest.mark.parametrize(
    "factor, eps", [(1.0, 0.0), (1.5, 0.0), (1.5, 1e-12), (1.5, 1e-7), (1.5, 1e-5)]
)
def test_slerp_of_near_parallel_vectors_is_lerp_without_nan(factor, eps):
    torch.manual_seed(1)
    z0 = torch.randn(8)
    z1 = factor * z0 + eps * torch.randn(8)  # factor 1, eps 0: z1 == z0, angle exactly 0
    out = slerp(z0, z1, 5)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, lerp(z0, z1, 5), atol=1e-6)
    # Gradients are finite too (the unused branch of the switch must not poison them).
    a, b = z0.clone().requires_grad_(), z1.clone().requires_grad_()
    slerp(a, b, 5).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_slerp_batch_mixes_parallel_and_generic_pairs_and_zero_vectors():
    torch.manual_seed(2)
    z0 = torch.randn(3, 4, dtype=torch.float64)
    z1 = torch.stack([2 * z0[0], torch.randn(4, dtype=torch.float64), torch.zeros(4)])
    out = slerp(z0, z1, 4)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[:, 0], lerp(z0[0], z1[0], 4))
    assert torch.allclose(out[:, 2], lerp(z0[2], z1[2], 4))
    assert torch.allclose(out[:, 1], slerp(z0[1], z1[1], 4))
    # The generic pair is not a lerp (so the switch is per pair, not global).
    assert not torch.allclose(out[:, 1], lerp(z0[1], z1[1], 4), atol=1e-3)


def test_angle_is_accurate_where_acos_is_not():
    x = torch.tensor([1.0, 0.0], dtype=torch.float64)
    for theta in (1e-9, 1e-5, 0.5, math.pi - 1e-5):
        y = torch.tensor([math.cos(theta), math.sin(theta)], dtype=torch.float64)
        assert abs(float(angle(x, 3 * y)) - theta) < 1e-12 * max(1.0, theta / 1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        slerp(torch.ones(3), torch.ones(3), 1)
    with pytest.raises(ValueError, match=r"same shape \(\.\.\., D\), got \(3,\) and \(4,\)"):
        lerp(torch.ones(3), torch.ones(4), 3)
    with pytest.raises(ValueError, match="opposite directions"):
        slerp(torch.tensor([1.0, 0.0]), torch.tensor([-2.0, 0.0]), 3)
    with pytest.raises(ValueError, match="finite"):
        slerp(torch.tensor([1.0, float("nan")]), torch.ones(2), 3)
    with pytest.raises(ValueError, match=r"z_with must have shape \(N, D\)"):
        attribute_vector(torch.ones(4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="share the latent size"):
        attribute_vector(torch.ones(2, 4), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"z \(\.\.\., D\) and v \(D,\)"):
        apply_attribute(torch.ones(2, 4), torch.ones(3))


def test_attribute_arithmetic_on_a_linear_generator():
    # G(z) = W z + b (a Generator with no hidden layer and identity output). The attribute
    # vector from two groups decodes to the difference of the groups' mean images, and moving
    # any z along it shifts its image by exactly scale * W v (latent = pixel arithmetic).
    torch.manual_seed(3)
    g = Generator((7,), z_dim=4, hidden=(), output="identity").double()
    W = g.net[0][0].weight.detach()
    z_with = torch.randn(5, 4, dtype=torch.float64) + 1.0
    z_without = torch.randn(9, 4, dtype=torch.float64) - 0.5
    v = attribute_vector(z_with, z_without)
    assert torch.allclose(v, z_with.mean(0) - z_without.mean(0))

    def decode(z: torch.Tensor) -> torch.Tensor:
        # Through the Pyro model: condition the latent site and read off "x".
        with torch.no_grad():
            return pyro.condition(g.model, data={"z": z})(num_samples=z.shape[0])

    images_with, images_without = decode(z_with), decode(z_without)
    z = torch.randn(6, 4, dtype=torch.float64)
    for scale in (-1.5, 0.5, 2.0):
        moved = decode(apply_attribute(z, v, scale))
        assert torch.allclose(moved, decode(z) + scale * (W @ v), atol=1e-12)
        pixel = images_with.mean(0) - images_without.mean(0)
        assert torch.allclose(moved, decode(z) + scale * pixel, atol=1e-12)
    # A deep generator breaks the identity (so the check above is not vacuous).
    deep = Generator((7,), z_dim=4, hidden=(16,), output="identity").double()
    with torch.no_grad():
        lhs = deep.generate(apply_attribute(z, v, 2.0))
        rhs = deep.generate(z) + 2.0 * (
            deep.generate(z_with).mean(0) - deep.generate(z_without).mean(0)
        )
    assert not torch.allclose(lhs, rhs, atol=1e-3)
