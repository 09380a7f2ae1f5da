"""gradient_variance with every Pyro objective, against the exact ELBO gradient.

Model z_i ~ N(0, 1), x_i | z_i ~ N(z_i, 1) in plate "data"; guide q(z_i | x_i) = N(a x_i + b,
e^{2 s}) with ``pyro.param``\\ s a, b, s. Per example, with m = a x + b and v = e^{2 s},

    ELBO_i = -log(2 pi) - (m^2 + v) / 2 - ((x_i - m)^2 + v) / 2 + log(2 pi e) / 2 + s.

The enumerated variant adds c ~ Bernoulli(sigmoid(c_logit)) with an observed y ~ N(2c - 1, 1),
summed out exactly by TraceEnum_ELBO: its ELBO term is log p(y), also in closed form.
"""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import (
    JitTrace_ELBO,
    JitTraceEnum_ELBO,
    JitTraceGraph_ELBO,
    JitTraceMeanField_ELBO,
    RenyiELBO,
    Trace_ELBO,
    TraceEnum_ELBO,
    TraceGraph_ELBO,
    TraceMeanField_ELBO,
    TraceTailAdaptive_ELBO,
)
from pyro.infer.autoguide import AutoNormal

from pyrogen.objectives import (
    IWAE_ELBO,
    STL_ELBO,
    VIMCO_ELBO,
    ScoreFunction_ELBO,
    gradient_variance,
)

X = torch.tensor([-0.7, 0.4, 1.5], dtype=torch.float64)
Y = torch.tensor(0.8, dtype=torch.float64)
INIT = {"a": 0.2, "b": 0.4, "s": -0.3, "c_logit": 0.3}
C0, C1 = torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def model(x, discrete=False):
    if discrete:
        logit = pyro.param("c_logit", torch.tensor(INIT["c_logit"], dtype=torch.float64))
        c = pyro.sample("c", dist.Bernoulli(logits=logit), infer={"enumerate": "parallel"})
        pyro.sample("y", dist.Normal(2 * c - 1, 1.0), obs=Y)
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)


def guide(x, discrete=False):
    a, b, s = (pyro.param(n, torch.tensor(INIT[n], dtype=torch.float64)) for n in "abs")
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(a * x + b, s.exp()))


def exact_loss_grad(names):
    """d(-ELBO)/d(names) from the closed form, at INIT."""
    p = {n: torch.tensor(INIT[n], dtype=torch.float64, requires_grad=True) for n in names}
    m, v = p["a"] * X + p["b"], (2 * p["s"]).exp()
    prior = -HALF_LOG_2PI - 0.5 * (m**2 + v)
    lik = -HALF_LOG_2PI - 0.5 * ((X - m) ** 2 + v)
    entropy = HALF_LOG_2PI + 0.5 + p["s"]
    elbo = (prior + lik + entropy).sum()
    if "c_logit" in p:
        log_prior = torch.stack([dist.Bernoulli(logits=p["c_logit"]).log_prob(c) for c in (C0, C1)])
        log_lik = torch.stack([dist.Normal(2 * c - 1, 1.0).log_prob(Y) for c in (C0, C1)])
        elbo = elbo + torch.logsumexp(log_prior + log_lik, 0)
    return torch.stack(torch.autograd.grad(-elbo, [p[n] for n in names]))


def agrees(stats, names, expected, sigmas=4.0):
    """Every entry's Monte Carlo mean is within ``sigmas`` standard errors of ``expected``."""
    mean = torch.cat([stats[n].mean for n in names])
    se = torch.cat([(stats[n].var / stats[n].num_draws).sqrt() for n in names])
    return bool(((mean - expected).abs() <= sigmas * se + 1e-9).all())


def sign_flipped(expected):
    """The plausible wrong answer: the largest entry with its sign flipped."""
    wrong = expected.clone()
    i = int(expected.abs().argmax())
    wrong[i] = -wrong[i]
    return wrong


def case(name, make, unbiased=True, discrete=False, jit=False, draws=200):
    """One objective: its factory, whether it is unbiased for the ELBO's gradient, whether the
    model has the enumerated site, whether it is a Jit objective, and R."""
    return pytest.param(make, unbiased, discrete, jit, draws, id=name)


CASES = [
    case("Trace", lambda: Trace_ELBO()),
    case("TraceMeanField", lambda: TraceMeanField_ELBO()),
    case("TraceGraph", lambda: TraceGraph_ELBO()),
    case("TraceEnum", lambda: TraceEnum_ELBO(max_plate_nesting=1), discrete=True),
    case("Renyi_K1", lambda: RenyiELBO(alpha=0.5, num_particles=1)),  # K = 1: the ELBO
    case("JitTrace", lambda: JitTrace_ELBO(ignore_jit_warnings=True), jit=True),
    case("JitTraceGraph", lambda: JitTraceGraph_ELBO(ignore_jit_warnings=True), jit=True),
    case(
        "JitTraceEnum",
        lambda: JitTraceEnum_ELBO(max_plate_nesting=1, ignore_jit_warnings=True),
        discrete=True,
        jit=True,
    ),
    case(
        "JitTraceMeanField",
        lambda: JitTraceMeanField_ELBO(ignore_jit_warnings=True),
        jit=True,
        draws=30,  # about 20 ms a draw on CPU
    ),
    case("STL", lambda: STL_ELBO()),
    case("ScoreFunction", lambda: ScoreFunction_ELBO(num_particles=2)),
    # Estimators of other objectives' gradients: finite, noisy, caller's .grad untouched.
    case("Renyi", lambda: RenyiELBO(alpha=0.5, num_particles=3), unbiased=False, draws=50),
    case("IWAE", lambda: IWAE_ELBO(num_particles=3), unbiased=False, draws=50),
    case("VIMCO", lambda: VIMCO_ELBO(num_particles=3), unbiased=False, draws=50),
    case(
        "TailAdaptive",
        lambda: TraceTailAdaptive_ELBO(num_particles=3, vectorize_particles=True),
        unbiased=False,
        draws=50,
    ),
]


def run_case(make, unbiased, discrete, jit, num_draws):
    names = ["a", "b", "s"] + (["c_logit"] if discrete else [])
    # The Jit objectives read parameters by name from Pyro's global param store.
    with pyro.settings.context(module_local_params=not jit):
        pyro.clear_param_store()
        for n in names:
            pyro.param(n, torch.tensor(INIT[n], dtype=torch.float64))
        leaves = {n: pyro.param(n).unconstrained() for n in names}
        user_grads = {n: torch.full_like(p, 7.0) for n, p in leaves.items()}
        for n, p in leaves.items():
            p.grad = user_grads[n]
        stats = gradient_variance(model, guide, make(), X, discrete=discrete, num_draws=num_draws)
    assert set(stats) == set(names)  # found in the param store, by Pyro name
    for n, p in leaves.items():  # the caller's gradients are left as they were
        assert p.grad is user_grads[n] and bool((p.grad == 7.0).all()), n
    guide_names = ["a", "b", "s"]
    mean = torch.cat([stats[n].mean for n in guide_names])
    assert bool(mean.isfinite().all())
    assert all(stats[n].total_var > 0 for n in guide_names)
    if unbiased:
        expected = exact_loss_grad(names)
        assert agrees(stats, names, expected), (
            torch.cat([stats[n].mean for n in names]),
            expected,
        )
        assert not agrees(stats, names, sign_flipped(expected))  # the check has power
    if discrete:  # c is summed out exactly: its parameter's gradient is the same every draw
        assert stats["c_logit"].total_var < 1e-24
    return stats


@pytest.mark.parametrize("make, unbiased, discrete, jit, num_draws", CASES)
def test_mean_matches_exact_gradient(make, unbiased, discrete, jit, num_draws):
    run_case(make, unbiased, discrete, jit, num_draws)


def test_autoguide_parameters_are_found_on_first_call():
    """AutoNormal creates loc and scale of z on its first call; gradient_variance finds them
    (the scale as the unconstrained u of scale = softplus(u)), and their gradients match the
    closed form."""
    auto = AutoNormal(model)
    r = 200
    stats = gradient_variance(model, auto, Trace_ELBO(), X, num_draws=r)
    assert set(stats) == {"AutoNormal.locs.z", "AutoNormal.scales.z"}
    loc = auto.locs.z.detach().clone().requires_grad_()
    u = auto.scales.z.unconstrained().detach().clone().requires_grad_()
    scale = torch.nn.functional.softplus(u)
    elbo = (-0.5 * (loc**2 + scale**2) - 0.5 * ((X - loc) ** 2 + scale**2) + scale.log()).sum()
    expected = torch.cat(torch.autograd.grad(-elbo, [loc, u]))
    names = ["AutoNormal.locs.z", "AutoNormal.scales.z"]
    assert agrees(stats, names, expected)
    assert not agrees(stats, names, sign_flipped(expected))


def test_no_parameter_is_a_clear_error():
    def fixed_model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def fixed_guide():
        pyro.sample("z", dist.Normal(0.5, 1.0))

    with pytest.raises(ValueError, match="found no parameter"):
        gradient_variance(fixed_model, fixed_guide, TraceGraph_ELBO(), num_draws=3)


def test_loss_and_grads_objective_needs_leaf_params():
    leaf = torch.tensor(0.5, requires_grad=True)
    loc = leaf * 2

    def fixed_model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def fixed_guide():
        pyro.sample("z", dist.Normal(loc, 1.0))

    with pytest.raises(ValueError, match="only leaf tensors"):
        gradient_variance(
            fixed_model, fixed_guide, TraceGraph_ELBO(), num_draws=3, params={"loc": loc}
        )
