"""Density distillation: entropy identities, exact KL to an analytic AR(2) teacher, causality."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from pyrogen.infer import DensityDistillation
from pyrogen.metrics import autocorrelation
from pyrogen.models import IAFStudent, ar2_autocorrelation, ar2_teacher, ar_gaussian
from pyrogen.objectives import analytic_entropy, mc_entropy

A1, A2 = 0.5, -0.3


def _randomize(student: IAFStudent, scale: float = 0.3) -> IAFStudent:
    # The flows start at the identity map; random weights make every test non-trivial.
    with torch.no_grad():
        for p in student.parameters():
            p.normal_(0, scale)
    return student


def _exact_kl(student: IAFStudent, teacher: torch.nn.Module) -> torch.Tensor:
    mean, cov = student.gaussian()
    t_mean, t_tril = ar_gaussian(teacher)  # type: ignore[arg-type]
    return kl_divergence(
        MultivariateNormal(mean, cov), MultivariateNormal(t_mean, scale_tril=t_tril)
    )


@pytest.mark.parametrize("conditioner", ["conv", "made"])
def test_student_is_autoregressive_in_noise_with_its_log_det(conditioner):
    torch.manual_seed(0)
    s = _randomize(IAFStudent(6, 3, conditioner, channels=8, num_layers=2)).double()
    z = torch.randn(1, 6, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: s(v)[0], z)[:, 0]  # (T, T)
    # x_t depends on z_<=t only: the Jacobian is lower triangular ...
    assert torch.all(jac.triu(1) == 0)
    # ... and its diagonal is prod_k sigma_t^(k), so log|det| = sum of the returned log-scales.
    torch.testing.assert_close(jac.diagonal().log(), s.with_log_scales(z)[1][0])


def test_analytic_entropy_equals_monte_carlo_estimate():
    torch.manual_seed(1)
    s = _randomize(IAFStudent(16, 2, channels=8, num_layers=2), 0.2)
    with torch.no_grad():
        _, z, log_scale = s.rsample(20000)
        analytic = analytic_entropy(log_scale)
        mc = mc_entropy(z, log_scale)
    # Both estimate H(p_S); the MC one adds the variance of -log N(z) (std sqrt(T/2) per draw).
    se = (mc.std() / math.sqrt(len(mc))).item()
    assert abs(analytic.mean().item() - mc.mean().item()) < 4 * se + 1e-3
    assert mc.var() > analytic.var()


def test_analytic_entropy_equals_gaussian_entropy_for_linear_student():
    torch.manual_seed(2)
    s = _randomize(IAFStudent(10, 2, linear=True, kernel_size=3))
    mean, cov = s.gaussian()
    exact = MultivariateNormal(mean, cov).entropy()
    with torch.no_grad():
        _, _, log_scale = s.rsample(4)
    torch.testing.assert_close(analytic_entropy(log_scale), exact.expand(4), rtol=1e-4, atol=1e-4)


def test_reported_kl_is_unbiased_for_the_exact_kl():
    torch.manual_seed(3)
    teacher = ar2_teacher(12, A1, A2, 0.7)
    s = _randomize(IAFStudent(12, 1, linear=True, kernel_size=4), 0.2)
    d = DensityDistillation(teacher, s, entropy="mc")
    estimate = d.evaluate(torch.zeros(40000, 1))["kl"]
    exact = _exact_kl(s, teacher)
    assert abs(estimate.item() - exact.item()) < 0.05 * exact.item() + 0.02


def test_ar_gaussian_matches_teacher_log_prob():
    teacher = ar2_teacher(7, A1, A2, 1.3)
    x = torch.randn(5, 7)
    mean, tril = ar_gaussian(teacher)
    torch.testing.assert_close(
        MultivariateNormal(mean, scale_tril=tril).log_prob(x), teacher.log_prob(x)
    )


def test_distilled_linear_student_matches_ar2_teacher():
    torch.manual_seed(0)
    length = 32
    teacher = ar2_teacher(length, A1, A2, 1.0)
    student = IAFStudent(length, 1, linear=True, kernel_size=16)
    d = DensityDistillation(teacher, student, lr=0.03)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(d.optim, 300)
    before = _exact_kl(student, teacher).item()
    data = torch.zeros(128, 1)
    for _ in range(300):
        d.step(data)
        sched.step()
    after = _exact_kl(student, teacher).item()
    # The AR(2) impulse response decays like 0.55^k: an MA(15) filter leaves a KL of ~1e-3.
    assert before > 1.0
    assert after < 0.01
    x = student.sample(2000, length=256)
    rho = autocorrelation(x, 6)
    torch.testing.assert_close(rho, ar2_autocorrelation(A1, A2, 6), atol=0.02, rtol=0)


def test_bad_input_fails_fast():
    teacher = ar2_teacher(8, A1, A2)
    with pytest.raises(ValueError, match="stationary"):
        ar2_teacher(8, 0.9, 0.5)
    with pytest.raises(ValueError, match="entropy"):
        DensityDistillation(teacher, IAFStudent(8, 1), entropy="exact")
    with pytest.raises(ValueError, match="reference"):
        DensityDistillation(teacher, IAFStudent(8, 1), power_weight=1.0)
    with pytest.raises(ValueError, match="linear"):
        IAFStudent(8, 1).gaussian()
    with pytest.raises(ValueError, match="batch"):
        IAFStudent(8, 1)(torch.zeros(8))


def test_registered_distill_builds_a_stepper_from_a_teacher(stat_seed):
    from pyrogen.cli.registry import get_model

    spec = get_model("distill")
    teacher = ar2_teacher(16, A1, A2)
    module = spec.build((1, 8, 8), teacher=teacher, num_flows=2, channels=4, num_layers=1)
    assert spec.stepper is not None
    stepper = spec.stepper(module, {"lr": 0.01})
    assert stepper.module is module and module.student.length == 16
    # A fresh student is the identity flow, p_S = N(0, I): its KL to the AR(2) teacher
    # N(m, Sigma_T) is known in closed form, and -log p_T(x) = (x - m)' A (x - m) / 2 + c
    # (A = Sigma_T^-1) has variance tr(A^2) / 2 + m' A^2 m under p_S, which sizes the
    # tolerance of the estimate.
    t_mean, t_tril = ar_gaussian(teacher)
    eye = torch.eye(16)
    exact = kl_divergence(
        MultivariateNormal(torch.zeros(16), eye), MultivariateNormal(t_mean, scale_tril=t_tril)
    )
    precision = torch.cholesky_inverse(t_tril)
    n = 20000
    var = 0.5 * float((precision @ precision).trace()) + float((precision @ t_mean).square().sum())
    se = math.sqrt(var / n)
    torch.manual_seed(stat_seed)
    estimate = stepper.evaluate(torch.zeros(n, 1, 8, 8))["kl"]
    assert abs(float(estimate) - float(exact)) < 5 * se, (float(estimate), float(exact), se)
    out = stepper.step(torch.zeros(4, 1, 8, 8))
    assert set(out) == {"loss", "kl", "entropy", "cross_entropy"}
    assert any(p.grad is not None for p in module.student.parameters())
    with pytest.raises(ValueError, match="teacher"):
        spec.build((1, 8, 8))


def test_power_loss_is_the_weighted_squared_log_spectrum_gap():
    from pyrogen.metrics import power_spectrum

    teacher = ar2_teacher(16, A1, A2)
    s = _randomize(IAFStudent(16, 1, channels=4, num_layers=1), 0.2)
    reference = torch.randn(50, 16)
    d = DensityDistillation(teacher, s, power_weight=0.5, reference=reference)
    torch.manual_seed(4)
    out = d.evaluate(torch.zeros(64, 1))
    torch.manual_seed(4)
    with torch.no_grad():
        x = s.sample(64)
    gap = (power_spectrum(x) + 1e-8).log() - (power_spectrum(reference) + 1e-8).log()
    torch.testing.assert_close(out["loss"] - out["kl"], 0.5 * gap.square().mean())
