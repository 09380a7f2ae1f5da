"""distillation_report against an analytic AR(2) teacher: entropies and KL known in closed form."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from pyrogen.cli.distillation import build_distillation, distillation_report
from pyrogen.models import IAFStudent, ar2_teacher, ar_gaussian
from pyrogen.objectives import DistillationPair

T = 12


def _pair(seed: int = 0) -> tuple[DistillationPair, MultivariateNormal, MultivariateNormal]:
    torch.manual_seed(seed)
    teacher = ar2_teacher(T, 0.5, -0.3, 0.7)
    student = IAFStudent(T, 1, linear=True, kernel_size=3)
    with torch.no_grad():  # a linear student that differs from the teacher
        for p in student.parameters():
            p.normal_(0, 0.3)
    mean, cov = student.gaussian()
    t_mean, t_tril = ar_gaussian(teacher)
    return (
        DistillationPair(teacher, student),
        MultivariateNormal(mean, cov),
        MultivariateNormal(t_mean, scale_tril=t_tril),
    )


def test_report_matches_the_closed_form_entropies_and_kl():
    pair, p_s, p_t = _pair()
    n = 20000
    r = distillation_report(pair, num_samples=n)
    # E_T log p_T = -H(p_T); the Monte Carlo error of the mean is about sqrt(T/2 / n) per
    # signal, so 5 standard errors per step bound it.
    tol = 5 * math.sqrt(T / 2 / n) / T
    assert abs(r["teacher_ll_own_per_step"] + p_t.entropy().item() / T) < tol
    # The student's entropy is exact (closed form), and its KL estimate is unbiased.
    assert r["entropy"] == pytest.approx(p_s.entropy().item(), rel=1e-4)
    exact_kl = kl_divergence(p_s, p_t).item()
    assert abs(r["kl"] - exact_kl) < 0.05 * exact_kl + 0.05
    # The cross-entropy, against the closed form of E_S[-log p_T] for Gaussians.
    exact_ce = (exact_kl + p_s.entropy()).item()
    assert abs(r["cross_entropy"] - exact_ce) < 0.05 * exact_kl + 0.05
    # Per-step figures of the report.
    assert r["teacher_ll_student_per_step"] == pytest.approx(-r["cross_entropy"] / T, rel=1e-5)
    gap = r["teacher_ll_own_per_step"] - r["teacher_ll_student_per_step"]
    assert r["ll_gap_per_step"] == pytest.approx(gap)
    assert r["kl_per_step"] == pytest.approx(r["kl"] / T)
    assert r["sample_shape"] == [T] and r["length"] == T
    assert r["student_sample_seconds"] > 0 and r["teacher_sample_seconds"] > 0


def test_report_scores_test_signals_of_the_right_length_only():
    pair, _, p_t = _pair(1)
    x = p_t.sample((500,))
    r = distillation_report(pair, x, num_samples=8)
    expected = pair.teacher.log_prob(x).mean().item() / T
    assert r["teacher_ll_test_per_step"] == pytest.approx(expected, rel=1e-5)
    assert "teacher_ll_test_per_step" not in distillation_report(pair, x[:, :5], num_samples=8)


def test_report_is_seeded_and_leaves_the_global_random_state_alone():
    pair, _, _ = _pair(2)
    state = torch.get_rng_state()
    a = distillation_report(pair, num_samples=64, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = distillation_report(pair, num_samples=64, seed=3)
    assert a["kl"] == b["kl"] and a["teacher_ll_own_per_step"] == b["teacher_ll_own_per_step"]


def test_a_teacher_that_is_not_a_1d_density_is_refused():
    image_model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="1-D density with log_prob.*got Linear"):
        build_distillation((1, 8, 8), teacher=image_model)
    with pytest.raises(ValueError, match="needs a trained teacher"):
        build_distillation((T,))


def test_pair_samples_come_from_the_student():
    pair, _, _ = _pair(4)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(pair.sample(3, generator=g1), pair.student.sample(3, generator=g2))
    assert pair.sample(3).shape == (3, T)
