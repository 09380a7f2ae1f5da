import math

import numpy as np
import pytest
import torch
from scipy.optimize import curve_fit
from scipy.stats import binom, linregress
from scipy.stats import t as student_t

from pyrogen.metrics import fit_power_law

REPS = 200


def _band(alpha: float) -> tuple[float, float]:
    """Hits of a 95% interval in REPS replications: the central binomial band of mass 1-alpha."""
    lo, hi = binom.interval(1 - alpha, REPS, 0.95)
    return float(lo), float(hi)


def _replicate(n: int, reps: int, sigma: float, seed: int, runs: int = 1) -> list[np.ndarray]:
    """Samples of y = 2 x^0.5 with log-normal noise of scale sigma on n sizes over 3 decades."""
    rng = np.random.default_rng(seed)
    x = np.logspace(0, 3, n)
    return [
        2.0 * x[:, None] ** 0.5 * np.exp(sigma * rng.standard_normal((n, runs)))
        for _ in range(reps)
    ]


@pytest.mark.parametrize("k, alpha", [(3.0, -0.3), (0.02, 1.7), (250.0, -0.076)])
def test_noiseless_power_law_is_recovered_exactly(k, alpha):
    x = np.logspace(2, 8, 7)
    fit = fit_power_law(x, k * x**alpha)
    assert fit.alpha == pytest.approx(alpha, abs=1e-10)
    assert fit.k == pytest.approx(k, rel=1e-9)
    assert fit.c == 0.0 and fit.sigma < 1e-12
    assert fit.alpha_ci[0] == pytest.approx(alpha, abs=1e-10)
    assert fit.alpha_ci[1] == pytest.approx(alpha, abs=1e-10)
    np.testing.assert_allclose(fit.predict([10.0, 1e9]), k * np.array([10.0, 1e9]) ** alpha)


@pytest.mark.parametrize("k, alpha, c", [(3.0, -0.3, 0.7), (2e3, -0.7, 80.0), (5.0, -1.2, 1e-3)])
def test_offset_model_recovers_the_irreducible_term(k, alpha, c):
    x = np.logspace(0, 5, 9)
    y = k * x**alpha + c
    fit = fit_power_law(x, y, offset=True, n_boot=20)
    assert fit.c == pytest.approx(c, rel=1e-6)
    assert fit.alpha == pytest.approx(alpha, rel=1e-6)
    assert fit.k == pytest.approx(k, rel=1e-6)
    # The plain law cannot describe the same points: its residuals are far from zero.
    assert fit_power_law(x, y).sigma > 1e3 * max(fit.sigma, 1e-12)


def test_offset_model_with_noise_finds_c_near_the_truth():
    rng = np.random.default_rng(3)
    x = np.logspace(0, 6, 40)
    y = 4.0 * x**-0.5 + 1.5
    fit = fit_power_law(x, y * np.exp(0.01 * rng.standard_normal(40)), offset=True, n_boot=100)
    assert fit.c == pytest.approx(1.5, rel=0.05)
    assert fit.alpha_ci[0] < -0.5 < fit.alpha_ci[1]
    assert fit.alpha_ci_boot is not None and fit.alpha_ci_boot[0] < -0.5 < fit.alpha_ci_boot[1]


def test_repeated_runs_fit_every_run():
    x = np.array([10.0, 100.0, 1000.0, 1e4])
    noise = np.array([[1.1, 1 / 1.1], [0.8, 1.25], [1.2, 1 / 1.2], [0.95, 1 / 0.95]])
    fit = fit_power_law(x, 7.0 * x[:, None] ** -0.4 * noise)
    # Each size's runs have geometric mean 7 x^-0.4, so the line through them is exact.
    assert fit.alpha == pytest.approx(-0.4, abs=1e-12) and fit.k == pytest.approx(7.0)
    assert fit.n_obs == 8 and fit.dof == 6 and fit.bootstrap == "seeds"


def test_points_bootstrap_resamples_sizes_with_all_their_runs():
    # Copying every point R times leaves each resample's least-squares slope unchanged, so
    # the bootstrap over sizes of (N, R) copies equals the one over the N points.
    rng = np.random.default_rng(4)
    x = np.logspace(0, 3, 7)
    y = 2.0 * x**0.3 * np.exp(0.2 * rng.standard_normal(7))
    one = fit_power_law(x, y, n_boot=300, seed=9)
    rep = fit_power_law(x, np.repeat(y[:, None], 3, 1), n_boot=300, seed=9, bootstrap="points")
    assert rep.bootstrap == "points" and rep.n_obs == 21
    assert rep.alpha_ci_boot == pytest.approx(one.alpha_ci_boot, abs=1e-12)
    assert rep.alpha == pytest.approx(one.alpha, abs=1e-12)


def test_torch_input_gives_the_numpy_answer():
    x = np.array([1.0, 3.0, 10.0, 30.0, 100.0])
    y = np.array([5.0, 3.1, 2.2, 1.3, 1.0])
    a, b = fit_power_law(x, y), fit_power_law(torch.tensor(x), torch.tensor(y, dtype=torch.float64))
    assert a == b


def test_t_interval_matches_an_independent_regression():
    rng = np.random.default_rng(5)
    x = np.logspace(1, 4, 6)
    y = 3.0 * x**-0.2 * np.exp(0.1 * rng.standard_normal(6))
    fit = fit_power_law(x, y, level=0.9, n_boot=0)
    ref = linregress(np.log(x), np.log(y))
    assert fit.alpha == pytest.approx(ref.slope, rel=1e-12)
    assert fit.k == pytest.approx(math.exp(ref.intercept), rel=1e-12)
    assert fit.alpha_se == pytest.approx(ref.stderr, rel=1e-10)
    half = student_t.ppf(0.95, 4) * ref.stderr
    assert fit.alpha_ci == pytest.approx((ref.slope - half, ref.slope + half), rel=1e-10)


def test_offset_interval_matches_an_independent_nonlinear_fit():
    rng = np.random.default_rng(6)
    x = np.logspace(0, 5, 12)
    y = (4.0 * x**-0.6 + 0.8) * np.exp(0.02 * rng.standard_normal(12))
    fit = fit_power_law(x, y, offset=True, n_boot=0)

    def log_law(lx, log_k, alpha, c):
        return np.log(np.exp(log_k + alpha * lx) + c)

    p, cov = curve_fit(log_law, np.log(x), np.log(y), p0=[1.0, -0.5, 0.5])
    assert p[2] > 0  # an interior optimum, where Gauss-Newton's covariance applies
    assert (fit.alpha, fit.c) == pytest.approx((p[1], p[2]), rel=1e-5)
    assert fit.alpha_se == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-4)


def _t_coverage(seed: int) -> tuple[int, int]:
    """Hits of the t interval and of a wrong one (a normal quantile in place of Student's t)
    over REPS replications with 4 sizes (2 residual degrees of freedom)."""
    hits = wrong = 0
    for y in _replicate(4, REPS, 0.3, seed):
        fit = fit_power_law(np.logspace(0, 3, 4), y[:, 0], n_boot=0)
        hits += fit.alpha_ci[0] <= 0.5 <= fit.alpha_ci[1]
        wrong += abs(fit.alpha - 0.5) <= 1.959964 * fit.alpha_se
    return hits, wrong


def test_t_interval_covers_the_true_exponent_95_percent_of_the_time():
    lo, hi = _band(1e-3)  # (179, 198)
    hits, wrong = _t_coverage(seed=0)
    assert lo <= hits <= hi
    # The check has power: the normal-quantile interval covers about 81% at 2 dof.
    assert not lo <= wrong <= hi


def _points_bootstrap_coverage(seed: int) -> int:
    hits = 0
    for i, y in enumerate(_replicate(40, REPS, 0.2, seed)):
        fit = fit_power_law(np.logspace(0, 3, 40), y[:, 0], n_boot=400, seed=i)
        assert fit.alpha_ci_boot is not None
        hits += fit.alpha_ci_boot[0] <= 0.5 <= fit.alpha_ci_boot[1]
    return hits


def test_points_bootstrap_covers_about_95_percent():
    # The percentile bootstrap is only asymptotically exact (measured: 94% at 40 points), so
    # the band is the wider 1e-4 one: (176, 199).
    lo, hi = _band(1e-4)
    assert lo <= _points_bootstrap_coverage(seed=1) <= hi


def _seed_bootstrap_variance_ratio(seed: int) -> tuple[float, float]:
    """Mean over replications of (bootstrap variance of alpha) / (its true variance), for
    fit_power_law and for a plain resample of the runs without the sqrt(R/(R-1)) scaling."""
    n, runs, sigma, boots = 6, 3, 0.2, 2000
    lx = np.log(np.logspace(0, 3, n))
    true_var = sigma**2 / (runs * ((lx - lx.mean()) ** 2).sum())
    rng = np.random.default_rng(seed + 1000)
    ours, plain = [], []
    for i, y in enumerate(_replicate(n, REPS, sigma, seed, runs=runs)):
        ci = fit_power_law(np.exp(lx), y, n_boot=boots, seed=i).alpha_ci_boot
        assert ci is not None
        ours.append(((ci[1] - ci[0]) / (2 * 1.959964)) ** 2 / true_var)
        cols = rng.integers(0, runs, size=(boots, n, runs))
        means = np.take_along_axis(np.broadcast_to(np.log(y), cols.shape), cols, -1).mean(-1)
        slopes = ((means - means.mean(-1, keepdims=True)) @ (lx - lx.mean())) / (
            (lx - lx.mean()) ** 2
        ).sum()
        plain.append(slopes.var() / true_var)
    return float(np.mean(ours)), float(np.mean(plain))


def test_seed_bootstrap_variance_is_unbiased():
    ours, plain = _seed_bootstrap_variance_ratio(seed=2)
    # Each ratio is a weighted sum of the sizes' sample variances (12 dof, fewer effective
    # ones since the end sizes weigh most; measured sd about 0.5): 200 of them average to
    # 1 +- 0.04.
    assert ours == pytest.approx(1.0, abs=0.15)
    # A plain resample of R = 3 runs shrinks the variance to (R - 1) / R = 2/3.
    assert plain == pytest.approx(2 / 3, abs=0.12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
def test_coverage_sweep(seed):
    lo, hi = _band(1e-3)
    hits, wrong = _t_coverage(seed=100 + seed)
    assert lo <= hits <= hi and not lo <= wrong <= hi
    lo, hi = _band(1e-4)
    assert lo <= _points_bootstrap_coverage(seed=200 + seed) <= hi
    ours, plain = _seed_bootstrap_variance_ratio(seed=300 + seed)
    assert ours == pytest.approx(1.0, abs=0.15) and plain == pytest.approx(2 / 3, abs=0.12)


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        ([1.0, 2.0, 0.0], [1.0, 2.0, 3.0], {}, "x must be positive"),
        ([1.0, 2.0, 3.0], [1.0, -2.0, 3.0], {}, "y must be positive"),
        ([1.0, 2.0, 3.0], [1.0, math.nan, 3.0], {}, "y must be finite"),
        ([1.0, 2.0], [1.0, 2.0], {}, "at least 3 points"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"offset": True}, "at least 4 points"),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], {}, "at least 2 distinct"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], {}, r"shape \(N,\) or \(N, R\)"),
        ([[1.0, 2.0, 3.0]], [1.0, 2.0, 3.0], {}, "x must be 1-D"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"level": 1.5}, "level must be in"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"bootstrap": "seeds"}, "R >= 2"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"bootstrap": "jackknife"}, "bootstrap must be"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"n_boot": -1}, "n_boot must be"),
        (["a", "b", "c"], [1.0, 2.0, 3.0], {}, "x must be an array of numbers"),
    ],
)
def test_bad_input_raises_a_clear_value_error(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, y, **kwargs)
