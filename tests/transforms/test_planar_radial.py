"""Planar and radial flows invert fresh points of the codomain, not only cached outputs."""

import pytest
import torch

import pyrogen.transforms as T
from pyrogen.testing import check_inverse_fresh
from pyrogen.transforms.planar import solve_monotone_tanh


def _relative_residual(t, y):
    t = t.with_cache(0)
    return float(((t(t.inv(y)) - y).abs() / (1 + y.abs())).max().detach())


@pytest.mark.parametrize("name", ["planar", "radial"])
def test_inverse_of_fresh_points_float32_and_float64(name):
    worst = {torch.float32: 0.0, torch.float64: 0.0}
    for trial in range(5):
        torch.manual_seed(trial)
        t32 = T.Planar(6) if name == "planar" else T.Radial(6)
        with torch.no_grad():
            for p in t32.parameters():
                p.copy_(torch.randn_like(p))
        t64 = (T.Planar(6) if name == "planar" else T.Radial(6)).double()
        t64.load_state_dict(t32.state_dict())
        y = 4 * torch.randn(500, 6, dtype=torch.float64)  # never produced by a forward call
        worst[torch.float32] = max(worst[torch.float32], _relative_residual(t32, y.float()))
        worst[torch.float64] = max(worst[torch.float64], _relative_residual(t64, y))
    assert worst[torch.float32] < 5e-6
    assert worst[torch.float64] < 1e-10


def test_planar_inverse_near_the_invertibility_boundary():
    """w^T u_hat close to -1 makes g' vanish near a = -b; bisection keeps the solver safe."""
    torch.manual_seed(0)
    t = T.Planar(4).double()
    with torch.no_grad():
        t.w.copy_(3 * torch.randn(4))
        t.u.copy_(-25 * t.w / (t.w @ t.w))  # softplus(-25) - 1: w^T u_hat = -1 + 1.4e-11
    assert float((t.w @ t.u_hat()).detach()) + 1 < 1e-10
    check_inverse_fresh(t, 5 * torch.randn(1000, 4, dtype=torch.float64), tol=1e-10)


def test_scalar_solver_root_and_implicit_gradient():
    s = torch.tensor([-3.0, 0.1, 2.0, 50.0], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([-0.999, 0.5, 10.0, 3.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.3, -1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    a = solve_monotone_tanh(s, c, b)
    assert torch.allclose(a + c * torch.tanh(a + b), s, atol=1e-12, rtol=0)
    assert torch.autograd.gradcheck(solve_monotone_tanh, (s, c, b))


def test_radial_is_identity_at_the_centre_direction_scaling():
    """f(z0 + r e) = z0 + (r + beta r / (alpha + r)) e: the radius is mapped, not the direction."""
    t = T.Radial(3).double()
    z0, alpha, beta = t.params()
    e = torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64)
    r = 2.0
    y = t(z0 + r * e)
    assert torch.allclose(y, z0 + (r + beta * r / (alpha + r)) * e)


def test_conditional_planar_gives_one_flow_per_context():
    torch.manual_seed(0)
    m = T.ConditionalPlanar(2, 3)
    ctx = torch.randn(4, 3)
    z = torch.randn(4, 2)
    joint = m.condition(ctx)(z)
    single = torch.stack([m.condition(ctx[i])(z[i]) for i in range(4)])
    assert torch.allclose(joint, single)
    assert not torch.allclose(m.condition(ctx[:1])(z), joint)


def test_bad_inputs_say_what_was_expected():
    with pytest.raises(
        ValueError, match=r"Planar expects inputs of shape \(\.\.\., 3\), got \(2, 4\)"
    ):
        T.Planar(3)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"context must have shape|context expects"):
        T.ConditionalRadial(2, 5).condition(torch.zeros(3, 4))
