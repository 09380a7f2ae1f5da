import pytest
import torch

from pyrogen.infer.adam_step import FusedAdamStep


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(5, 3, generator=g).requires_grad_(),
        torch.randn(3, generator=g).requires_grad_(),
    ]


def _run(make_optim, steps=6, reload_at=None):
    """Parameters after ``steps`` updates by optim.step() and by FusedAdamStep."""
    out = []
    for direct in (False, True):
        params = _params()
        optim = make_optim(params)
        step = FusedAdamStep(optim) if direct else optim.step
        for t in range(steps):
            for i, p in enumerate(params):  # deterministic, step-dependent gradients
                p.grad = torch.sin(p.detach() * (t + 1) + i)
            optim.param_groups[0]["lr"] = 0.1 / (t + 1)  # a schedule between steps
            step()
            if reload_at == t:
                optim.load_state_dict(optim.state_dict())
        out.append((params, optim, step))
    return out


def test_direct_kernel_equals_optimizer_step_bitwise():
    (ref, ref_opt, _), (new, new_opt, step) = _run(
        lambda p: torch.optim.Adam(p, lr=0.1, fused=True), reload_at=2
    )
    assert step.direct
    for a, b in zip(ref, new):
        assert torch.equal(a, b)
    for a, b in zip(ref, new):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(ref_opt.state[a][key], new_opt.state[b][key]), key


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.Adam(p, lr=0.1),  # not fused
        lambda p: torch.optim.Adam(p, lr=0.1, fused=True, amsgrad=True),
        lambda p: torch.optim.Adam(p, lr=0.1, fused=True, weight_decay=0.1),
        lambda p: torch.optim.Adam([{"params": p[:1]}, {"params": p[1:]}], lr=0.1, fused=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    ],
)
def test_other_configurations_fall_back_to_the_optimizer(make):
    (ref, _, _), (new, _, step) = _run(make)
    assert not step.direct
    for a, b in zip(ref, new):
        assert torch.equal(a, b)


def _changed_signature(*args, **kwargs):
    """What a torch release whose private kernel takes other arguments does with the call."""
    raise TypeError("_fused_adam_() got an unexpected keyword argument 'beta1'")


@pytest.mark.parametrize("kernel", [None, _changed_signature], ids=["absent", "changed"])
def test_without_a_usable_private_kernel_the_optimizer_steps(monkeypatch, kernel):
    """torch._fused_adam_ is private: gone or with another signature, every step is
    optimizer.step() of Adam(fused=True), bitwise, and the step count is not advanced twice."""
    from pyrogen.infer import adam_step

    monkeypatch.setattr(adam_step, "_FUSED_ADAM", kernel)
    (ref, ref_opt, _), (new, new_opt, step) = _run(
        lambda p: torch.optim.Adam(p, lr=0.1, fused=True), reload_at=2
    )
    assert not step.direct
    for a, b in zip(ref, new):
        assert torch.equal(a, b)
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(ref_opt.state[a][key], new_opt.state[b][key]), key
    assert new_opt.state[new[0]]["step"].item() == 6
