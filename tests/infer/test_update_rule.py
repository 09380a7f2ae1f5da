"""SVITrainer's update options: gradient accumulation, clipping, EMA, schedulers."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule
from torch import nn

from pyrogen.infer import SVITrainer
from pyrogen.infer.schedules import cosine_schedule, iwae_schedule


class Shifted(PyroModule):
    """x ~ Normal(loc + shift, 1), fully observed: a deterministic loss whose gradient,
    sum(loc + shift - x), is exact in float64 for small dyadic values."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.tensor([0.5, -0.25, 1.0], dtype=torch.float64))
        self.shift = nn.Parameter(torch.tensor(0.125, dtype=torch.float64))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(self.loc + self.shift, 1.0).to_event(1), obs=x)

    def guide(self, x):
        pass


def _x(n=12, scale=1.0):
    g = torch.Generator().manual_seed(0)
    return (torch.randint(-4, 5, (n, 3), generator=g) * scale).to(torch.float64)


def _sgd(m, lr=0.0625):
    return torch.optim.SGD(m.parameters(), lr=lr)


def _state(m):
    return [p.detach().clone() for p in m.parameters()]


def test_accumulating_n_batches_of_b_equals_one_batch_of_n_b():
    x = _x(16)
    one, acc = Shifted(), Shifted()
    big = SVITrainer(one, optim=_sgd(one))
    small = SVITrainer(acc, optim=_sgd(acc), accumulate=2)
    for i in range(3):  # 3 updates; every gradient is exact in float64
        big.step(x[:8] if i % 2 == 0 else x[8:])
        before = _state(acc)
        half = x[:8] if i % 2 == 0 else x[8:]
        small.step(half[:4])
        assert all(torch.equal(a, b) for a, b in zip(before, _state(acc)))  # no update yet
        small.step(half[4:])
        for a, b in zip(one.parameters(), acc.parameters()):
            assert torch.equal(a.grad, b.grad)  # the mean gradient, not the sum
            assert torch.equal(a, b)


def test_an_epochs_incomplete_window_is_the_mean_of_its_batches():
    x = _x(12)
    one, acc = Shifted(), Shifted()
    big = SVITrainer(one, optim=_sgd(one))
    small = SVITrainer(acc, optim=_sgd(acc), accumulate=2)
    big.step(x[:8])
    big.step(x[8:])
    for rows in (slice(0, 4), slice(4, 8), slice(8, 12)):
        small.step(x[rows])
    assert not torch.equal(one.loc, acc.loc)  # the third batch is still pending
    small.end_epoch(1, {})
    for a, b in zip(one.parameters(), acc.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("threshold", [0.5, 1e6])
def test_clipping_by_global_norm_and_the_reported_norm(threshold):
    x = _x(8, scale=10.0)  # far from the parameters: a large gradient
    free_m, clip_m = Shifted(), Shifted()
    free = SVITrainer(free_m, optim=_sgd(free_m))
    clipped = SVITrainer(clip_m, optim=_sgd(clip_m), clip_grad_norm=threshold)
    assert "grad_norm" not in free.step(x)
    out = clipped.step(x)
    # The unclipped twin's gradient, still in .grad after its step: the norm torch computes.
    expected = torch.nn.utils.clip_grad_norm_(list(free_m.parameters()), float("inf"))
    assert out["grad_norm"].dim() == 0
    assert torch.equal(out["grad_norm"], expected)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in clip_m.parameters()]))
    if threshold < 1:
        assert expected > 10 * threshold
        # clip_grad_norm_ scales by c / (norm + 1e-6)
        assert norm.item() == pytest.approx(threshold, rel=1e-5)
    else:
        for a, b in zip(free_m.parameters(), clip_m.parameters()):
            assert torch.equal(a.grad, b.grad)


def test_ema_follows_the_recurrence_and_serves_evaluate():
    x = _x(8)
    m = Shifted()
    trainer = SVITrainer(m, optim=_sgd(m, lr=0.1), ema_decay=0.75)
    expected = _state(m)  # the average starts at the initial parameters
    for _ in range(4):
        trainer.step(x)
        expected = [0.75 * e + 0.25 * p for e, p in zip(expected, _state(m))]
    for s, e in zip(trainer.ema.shadow, expected):
        assert torch.allclose(s, e, rtol=0, atol=1e-15)
    current = _state(m)
    with trainer.ema_weights():
        assert all(torch.equal(p, e) for p, e in zip(m.parameters(), trainer.ema.shadow))
    assert all(torch.equal(p, c) for p, c in zip(m.parameters(), current))  # restored

    twin = Shifted()
    with torch.no_grad():
        for p, e in zip(twin.parameters(), trainer.ema.shadow):
            p.copy_(e)
    reference = SVITrainer(twin, optim=_sgd(twin)).evaluate(x)["loss"]
    assert torch.equal(trainer.evaluate(x)["loss"], reference)


def test_ema_weights_without_an_average_is_a_clear_error():
    m = Shifted()
    trainer = SVITrainer(m, optim=_sgd(m))
    with pytest.raises(ValueError, match="ema_decay"), trainer.ema_weights():
        pass


def test_step_and_epoch_schedulers():
    x = _x(8)
    m = Shifted()
    per_step = SVITrainer(m, lr=0.01, scheduler=cosine_schedule(4), scheduler_interval="step")
    for _ in range(2):
        per_step.step(x)
    assert per_step.optim.param_groups[0]["lr"] == pytest.approx(0.005)  # cos(pi/2) halfway
    m2 = Shifted()
    per_epoch = SVITrainer(m2, lr=1e-3, scheduler=iwae_schedule())
    for epoch in range(1, 5):
        per_epoch.step(x)
        per_epoch.step(x)
        per_epoch.end_epoch(epoch, {})
    # 1 epoch at 1e-3, 3 at 1e-3 * 10^(-1/7), then 10^(-2/7)
    assert per_epoch.optim.param_groups[0]["lr"] == pytest.approx(1e-3 * 10 ** (-2 / 7))
    assert per_epoch.state_dict()["scheduler"]["last_epoch"] == 4


def test_bad_options_are_refused():
    for kwargs, match in [
        ({"accumulate": 0}, "accumulate"),
        ({"clip_grad_norm": 0.0}, "clip_grad_norm"),
        ({"ema_decay": 1.0}, "decay"),
        ({"scheduler": cosine_schedule(3), "scheduler_interval": "batch"}, "interval"),
    ]:
        with pytest.raises(ValueError, match=match):
            SVITrainer(Shifted(), **kwargs)


def test_accumulation_on_the_hand_derived_path_matches_autograd():
    """The hand-derived gradient adds into .grad as autograd does, across a window."""
    from pyrogen.models import VAE

    x = torch.rand(16, 1, 8, 8).bernoulli()
    grads = []
    for manual in (True, False):
        torch.manual_seed(0)
        m = VAE((1, 8, 8), z_dim=3, hidden=(16,))
        trainer = SVITrainer(m, optim=_sgd(m), accumulate=2, manual_backward=manual)
        pyro.set_rng_seed(1)
        trainer.step(x[:8])
        trainer.step(x[8:])
        grads.append([p.grad.clone() for p in m.parameters()])
        assert (trainer.path == "hand-derived") == manual
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
