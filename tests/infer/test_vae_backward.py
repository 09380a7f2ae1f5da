import pytest
import torch

from pyrogen.infer import SVITrainer
from pyrogen.infer.fast_elbo import VAEObjective
from pyrogen.infer.vae_backward import ManualBackward, supports_manual_backward
from pyrogen.models import VAE
from pyrogen.objectives import IWAE_ELBO

ACTIVATIONS = ["relu", "tanh", "elu", "softplus", "leaky_relu", "gelu"]
OBJECTIVES = [("elbo", 1, False), ("elbo", 3, False), ("iwae", 4, False), ("elbo", 2, True)]


def _data(n=5, shape=(1, 4, 5), seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g, dtype=torch.float64).bernoulli(generator=g)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("kind,k,analytic_kl", OBJECTIVES)
def test_hand_derived_gradient_equals_autograd(act, kind, k, analytic_kl):
    torch.manual_seed(0)
    vae = VAE((1, 4, 5), z_dim=3, hidden=(7, 6), act=act).double()
    objective = VAEObjective(vae, kind, k, analytic_kl)
    x = _data()
    eps = torch.randn((k, 5, 3) if k > 1 else (5, 3), dtype=torch.float64)
    loss = objective.loss_from_noise(x, eps) / 5
    expected = torch.autograd.grad(loss, list(vae.parameters()))

    manual = ManualBackward(objective)(x, eps, 1 / 5)
    assert manual.item() == pytest.approx(loss.item(), abs=1e-12)
    for (name, p), g in zip(vae.named_parameters(), expected):
        assert p.grad is not None, name
        assert torch.allclose(p.grad, g, rtol=1e-10, atol=1e-12), name


def test_gradients_accumulate_like_autograd():
    torch.manual_seed(0)
    vae = VAE((1, 4, 5), z_dim=3, hidden=(7,)).double()
    backward = ManualBackward(VAEObjective(vae))
    x, eps = _data(), torch.randn(5, 3, dtype=torch.float64)
    backward(x, eps)
    once = [p.grad.clone() for p in vae.parameters()]
    backward(x, eps)
    for p, g in zip(vae.parameters(), once):
        assert torch.allclose(p.grad, 2 * g)


def test_reused_buffers_do_not_leak_between_calls_of_other_shapes():
    """One ManualBackward over calls of changing batch size and K gives each call exactly
    what a fresh one gives (its intermediates live in buffers reused across calls)."""
    torch.manual_seed(0)
    vae = VAE((1, 4, 5), z_dim=3, hidden=(7, 6)).double()
    reused = ManualBackward(VAEObjective(vae, "iwae", 3))
    for n, k, seed in [(5, 3, 1), (2, 3, 2), (5, 3, 3), (5, 1, 4)]:
        objective = VAEObjective(vae, "iwae" if k > 1 else "elbo", k)
        reused.objective = objective  # same networks, another K
        x = _data(n, seed=seed)
        eps = torch.randn((k, n, 3) if k > 1 else (n, 3), dtype=torch.float64)
        for p in vae.parameters():
            p.grad = None
        got = reused(x, eps, 1 / n)
        grads = [p.grad.clone() for p in vae.parameters()]
        for p in vae.parameters():
            p.grad = None
        want = ManualBackward(objective)(x, eps, 1 / n)
        assert got.item() == want.item()
        for p, g in zip(vae.parameters(), grads):
            assert torch.equal(p.grad, g)


@pytest.mark.parametrize("loss", [None, IWAE_ELBO(num_particles=3)])
def test_trainer_with_and_without_the_hand_derived_backward_agree(loss):
    x = _data(16, (1, 8, 8)).float()
    states = []
    for manual in (True, False):
        torch.manual_seed(0)
        trainer = SVITrainer(
            VAE((1, 8, 8), z_dim=3, hidden=(16,)), loss, lr=1e-2, manual_backward=manual
        )
        torch.manual_seed(7)
        for _ in range(5):
            trainer.step(x)
        assert (trainer.path == "hand-derived") is manual
        assert trainer.backward_reason == (None if manual else "disabled")
        states.append(trainer.module.state_dict())
    for key in states[0]:
        assert torch.allclose(states[0][key], states[1][key], atol=1e-5), key


def test_models_outside_its_reach_keep_autograd_and_say_why():
    x = _data(4, (1, 8, 8)).float()
    cases = [
        (VAE((1, 8, 8), z_dim=2, hidden=(8,), likelihood="gaussian"), {}, "gaussian"),
        (VAE((1, 8, 8), z_dim=2, hidden=(8,), arch="conv"), {}, "conv"),
        (
            VAE((1, 8, 8), z_dim=2, hidden=(8,)),
            {"loss": IWAE_ELBO(num_particles=4), "particle_chunk": 2},
            "chunking",
        ),
    ]
    for vae, options, reason in cases:
        trainer = SVITrainer(vae, **options)
        assert torch.isfinite(trainer.step(x)["loss"])
        assert trainer.path == "tracing-free"
        assert reason in trainer.backward_reason
        assert supports_manual_backward(trainer.objective.fast) == trainer.backward_reason
        with pytest.raises(ValueError, match=reason):
            ManualBackward(trainer.objective.fast)


def test_bf16_autocast_changes_the_bound_only_by_rounding():
    x = _data(32, (1, 8, 8)).float()
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=4, hidden=(32,))
    full, half = SVITrainer(vae, lr=1e-2), SVITrainer(vae, lr=1e-2, bf16=True)
    torch.manual_seed(3)
    exact = full.evaluate(x)["loss"]
    torch.manual_seed(3)
    rounded = half.evaluate(x)["loss"]
    assert rounded.dtype == torch.float32
    # bfloat16 keeps 8 significant bits: relative error ~ 2^-8 per product, not more.
    assert abs(float(rounded - exact)) < 0.02 * abs(float(exact))
    assert float(rounded) != float(exact)  # the products did run in bfloat16
    losses = [float(half.step(x)["loss"]) for _ in range(40)]
    assert "bf16" in half.backward_reason
    assert all(p.dtype == torch.float32 for p in vae.parameters())
    assert sum(losses[-5:]) < sum(losses[:5]) - 5 * 0.05 * abs(losses[0])


def test_compiled_hand_derived_step_matches_the_eager_one():
    """compile=True compiles the hand-derived step itself (not autograd): same noise, same
    updates up to float rounding, and its intermediates left to the compiler."""
    x = _data(16, (1, 8, 8)).float()
    runs = []
    for compile in (False, True):
        torch.manual_seed(0)
        trainer = SVITrainer(VAE((1, 8, 8), z_dim=3, hidden=(16,)), lr=1e-2, compile=compile)
        torch.manual_seed(7)
        losses = [float(trainer.step(x)["loss"]) for _ in range(5)]
        assert trainer.path == "hand-derived" and trainer.backward_reason is None
        assert trainer.objective.manual.ws.reuse is not compile
        compiled_call = trainer.objective._manual_call
        assert hasattr(compiled_call, "_torchdynamo_orig_callable") is compile
        runs.append((losses, trainer.module.state_dict()))
    (eager_losses, eager), (compiled_losses, compiled) = runs
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-5)
    for key in eager:
        assert torch.allclose(eager[key], compiled[key], atol=1e-5), key
