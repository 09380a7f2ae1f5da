"""The fast path never changes what is optimized: it runs only on the exact class, and its
first batch must equal Pyro's value on the same draws."""

import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from pyrogen.infer import SVITrainer
from pyrogen.infer.fast_elbo import VAEObjective
from pyrogen.models import VAE


def _x(n=16):
    return (torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(2)) > 0.5).float()


class WiderPosterior(VAE):
    """Overrides posterior(): the guide's scale doubled. The fast path, which reads the
    encoder directly, would optimize the parent's objective."""

    def posterior(self, x):
        loc, scale = self.encode(x)
        return dist.Normal(loc, 2.0 * scale).to_event(1)


def _pyro_value(vae, x, seed):
    pyro.set_rng_seed(seed)
    return Trace_ELBO().loss(vae.model, vae.guide, x) / x.shape[0]


def _first_step_loss(vae, x, seed):
    trainer = SVITrainer(vae)
    pyro.set_rng_seed(seed)
    return trainer, float(trainer.step(x)["loss"])


def test_a_subclass_overriding_a_method_trains_on_pyros_value():
    x = _x()
    torch.manual_seed(0)
    vae = WiderPosterior((1, 8, 8), z_dim=3, hidden=(16,))
    expected = _pyro_value(vae, x, 4)
    trainer, got = _first_step_loss(vae, x, 4)
    # not the built-in VAE's path: the general one, which runs the subclass's own guide
    assert trainer.path == "tracing-free" and "overrides posterior()" in trainer.path_reason
    assert got == pytest.approx(expected, rel=1e-5)


def test_an_instance_level_model_trains_on_pyros_value():
    x = _x()
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,))

    def my_model(x):  # the user's own prior: N(1, 1) instead of N(0, 1)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.ones(3), 1.0).to_event(1))
            pyro.sample("x", vae.likelihood.dist(vae.decode(z), vae.event_dim), obs=x)

    vae.model = my_model
    expected = _pyro_value(vae, x, 4)
    trainer, got = _first_step_loss(vae, x, 4)
    assert trainer.path == "tracing-free" and "replace" in trainer.path_reason
    assert got == pytest.approx(expected, rel=1e-5)


def test_the_fast_path_equals_pyro_on_the_first_batch_for_the_exact_class():
    x = _x()
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,))
    expected = _pyro_value(vae, x, 4)
    trainer, got = _first_step_loss(vae, x, 4)
    assert trainer.path == "hand-derived"
    assert got == pytest.approx(expected, rel=1e-5)


def test_a_fast_path_that_disagrees_with_pyro_falls_back_loudly(monkeypatch):
    """Were the tracing-free bound ever wrong, the first-batch check catches it."""
    real = VAEObjective.log_weights
    monkeypatch.setattr(VAEObjective, "log_weights", lambda self, x, eps: real(self, x, eps) + 1)
    x = _x()
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,), likelihood="gaussian")  # autograd path
    expected = _pyro_value(vae, x, 4)
    trainer = SVITrainer(vae)
    pyro.set_rng_seed(4)
    with pytest.warns(RuntimeWarning, match="differed|Pyro gives"):
        got = float(trainer.step(x)["loss"])
    assert trainer.path == "pyro" and "where Pyro gives" in trainer.path_reason
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_analytic_kl_is_checked_against_pyros_closed_form_objective(k):
    """``analytic_kl=True`` is Pyro's TraceMeanField_ELBO, not Trace_ELBO: the fast path must
    pass its first-batch check against that objective (comparing it with the sampled KL
    would fail and silently train the sampled one), and its first loss is that value."""
    x = _x()
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,))
    pyro.set_rng_seed(7)
    with torch.no_grad():
        expected = (
            TraceMeanField_ELBO(
                num_particles=k, vectorize_particles=True, max_plate_nesting=1
            ).loss(vae.model, vae.guide, x)
            / x.shape[0]
        )
        sampled = Trace_ELBO(num_particles=k, vectorize_particles=True, max_plate_nesting=1)
        pyro.set_rng_seed(7)
        sampled_value = sampled.loss(vae.model, vae.guide, x) / x.shape[0]
    assert abs(sampled_value - expected) > 1e-3  # the two objectives differ on these draws
    trainer = SVITrainer(vae, Trace_ELBO(num_particles=k), analytic_kl=True)
    pyro.set_rng_seed(7)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = float(trainer.step(x)["loss"])
    assert not [w for w in record if issubclass(w.category, RuntimeWarning)]  # no fall-back
    assert trainer.path in ("hand-derived", "tracing-free"), trainer.path_reason
    assert "TraceMeanField_ELBO" in trainer.path_reason
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("option", [("compile", True), ("bf16", True), ("particle_chunk", 2)])
@pytest.mark.parametrize("case", ["subclass", "no-fast", "other-loss"])
def test_options_of_the_fast_objective_are_refused_where_it_does_not_run(option, case):
    """compile, bf16 and particle_chunk act only inside the built-in fast objective: where
    another implementation runs they would do nothing, so the trainer refuses them."""
    vae = (WiderPosterior if case == "subclass" else VAE)((1, 8, 8), z_dim=3, hidden=(16,))
    loss = TraceMeanField_ELBO() if case == "other-loss" else Trace_ELBO()
    name, value = option
    with pytest.raises(ValueError, match=f"{name}={value}: option"):
        SVITrainer(vae, loss, fast=case != "no-fast", **{name: value})


def test_the_fast_objective_with_compile_refuses_to_fall_back_silently():
    """A first batch the built-in fast objective cannot take (a keyword argument) would drop
    compile=True on the way to Pyro's path: it raises instead."""
    x = _x()
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,))
    trainer = SVITrainer(vae, bf16=True)
    assert trainer.objective.path == "tracing-free"  # accepted at construction
    with pytest.raises(ValueError, match="bf16=True: option.*cannot run on this data"):
        trainer.step(x=x)
