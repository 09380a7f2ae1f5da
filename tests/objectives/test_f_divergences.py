import math

import pytest
import torch
from torch.distributions import Normal

from pyrogen.objectives import F_DIVERGENCES, get_f_divergence

# P = N(0, 1), Q = N(0.5, 1.5^2): Q has the heavier tails, so every f-divergence is finite.
GRID = torch.linspace(-20, 20, 400001, dtype=torch.float64)
P = Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
Q = Normal(torch.tensor(0.5, dtype=torch.float64), 1.5)


def _integrate(values):
    return float(torch.trapezoid(values, GRID))


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_bound_is_tight_at_the_optimal_critic(name):
    # sup_T E_P T - E_Q f*(T) = D_f(P || Q), attained at T* = f'(p / q) (Nowozin eq. 4-5).
    d = get_f_divergence(name)
    p, q = P.log_prob(GRID).exp(), Q.log_prob(GRID).exp()
    u = p / q
    divergence = _integrate(q * d.f(u))
    t_star = d.f_prime(u)
    bound = _integrate(p * t_star) - _integrate(q * d.conjugate(t_star))
    assert bound == pytest.approx(divergence, abs=1e-7)


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_fenchel_young_and_activation_range(name):
    # f*(t) >= u t - f(u) for every u > 0 and every t the activation can output.
    d = get_f_divergence(name)
    v = torch.linspace(-6, 6, 121, dtype=torch.float64)
    t = d.activation(v)
    f_star = d.conjugate(t)
    assert torch.isfinite(f_star).all()
    u = torch.logspace(-3, 3, 61, dtype=torch.float64)[:, None]
    assert (f_star[None, :] >= u * t[None, :] - d.f(u) - 1e-9).all()


def test_known_divergences():
    p, q = P.log_prob(GRID).exp(), Q.log_prob(GRID).exp()
    kl = math.log(1.5) + (1 + 0.25) / (2 * 1.5**2) - 0.5
    assert _integrate(q * get_f_divergence("f:kl").f(p / q)) == pytest.approx(kl, abs=1e-7)
    m = (p + q) / 2
    js = 0.5 * _integrate(p * (p / m).log()) + 0.5 * _integrate(q * (q / m).log())
    assert _integrate(q * get_f_divergence("js").f(p / q)) == pytest.approx(js, abs=1e-7)
    gan = _integrate(q * get_f_divergence("gan").f(p / q))
    assert gan == pytest.approx(2 * js - math.log(4), abs=1e-7)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'f:kl'"):
        get_f_divergence("f:tv")
