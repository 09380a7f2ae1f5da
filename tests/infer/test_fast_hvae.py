import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.infer import SVITrainer
from pyrogen.infer.fast_elbo import FastPathUnavailable, fast_objective
from pyrogen.infer.fast_hvae import HierarchicalObjective
from pyrogen.models import HierarchicalVAE, LadderVAE
from pyrogen.objectives import IWAE_ELBO


def _hvae(z_dims=(4, 3), inference="chain", likelihood="bernoulli"):
    torch.manual_seed(0)
    return HierarchicalVAE(
        (1, 4, 5), z_dims=z_dims, hidden=(6,), inference=inference, likelihood=likelihood
    ).double()


def _x(likelihood="bernoulli", n=6):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 4, 5, generator=g, dtype=torch.float64)
    return x.bernoulli(generator=g) if likelihood == "bernoulli" else x


@pytest.mark.parametrize("z_dims", [(4,), (4, 3), (5, 4, 2)])
@pytest.mark.parametrize("inference", ["chain", "factorized"])
@pytest.mark.parametrize("k", [1, 3])
def test_equals_trace_elbo_value_and_gradient(z_dims, inference, k, same_draws):
    """Same seed, same draws: the tracing-free bound is Trace_ELBO's value and gradient."""
    model, x = _hvae(z_dims, inference), _x()
    loss = Trace_ELBO(num_particles=k, vectorize_particles=k > 1, max_plate_nesting=1)
    fast = fast_objective(model, loss)
    assert isinstance(fast, HierarchicalObjective) and fast.num_particles == k
    same_draws(
        model, lambda: loss.differentiable_loss(model.model, model.guide, x), lambda: fast(x)
    )


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_equals_iwae_elbo(likelihood, same_draws):
    model, x = _hvae(likelihood=likelihood), _x(likelihood)
    loss = IWAE_ELBO(num_particles=4, max_plate_nesting=1)
    fast = fast_objective(model, loss)
    assert (fast.kind, fast.num_particles) == ("iwae", 4)
    same_draws(
        model, lambda: loss.differentiable_loss(model.model, model.guide, x), lambda: fast(x)
    )


def test_trainer_takes_the_fast_path_and_matches_the_pyro_path():
    x = _x(n=16).float()
    states = []
    for fast in (True, False):
        torch.manual_seed(0)
        trainer = SVITrainer(
            HierarchicalVAE((1, 4, 5), z_dims=(4, 3), hidden=(6,)),
            IWAE_ELBO(num_particles=3, max_plate_nesting=1),
            lr=1e-2,
            fast=fast,
        )
        assert trainer.fast is fast, trainer.fast_reason
        pyro.set_rng_seed(7)
        for _ in range(5):
            trainer.step(x)
        states.append(trainer.module.state_dict())
        if fast:
            assert "one-layer VAE" in str(trainer.backward_reason)
    for k in states[0]:
        assert torch.allclose(states[0][k], states[1][k], atol=1e-5), k


def test_other_structures_fall_back():
    x = _x().float()
    with pytest.raises(FastPathUnavailable, match=r"overrides encode\(\), guide\(\)"):
        fast_objective(LadderVAE((1, 4, 5), z_dims=(4, 3), hidden=(6,)))
    with pytest.raises(FastPathUnavailable, match="analytic_kl"):
        fast_objective(_hvae(), analytic_kl=True)
    ladder = SVITrainer(LadderVAE((1, 4, 5), z_dims=(4, 3), hidden=(6,)), lr=1e-2)
    assert ladder.path == "tracing-free" and "overrides" in ladder.path_reason
    assert torch.isfinite(ladder.step(x)["loss"])
