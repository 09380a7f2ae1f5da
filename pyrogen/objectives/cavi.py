r"""Mean-field CAVI for the Normal model with unknown mean and precision.

Model (conjugate Normal-Gamma prior)::

    tau ~ Gamma(a0, b0),   mu | tau ~ N(mu0, 1 / (lambda0 tau)),   x_n | mu, tau ~ N(mu, 1 / tau).

Mean field q(mu, tau) = q(mu) q(tau). The block-coordinate rule log q_j = E_{-j} log p(X, T)
+ const gives closed forms: q(mu) = N(mu_N, 1 / lambda_N) and q(tau) = Gamma(a_N, b_N) with

    mu_N = (lambda0 mu0 + N xbar) / (lambda0 + N),      lambda_N = (lambda0 + N) E[tau],
    a_N = a0 + (N + 1) / 2,   b_N = b0 + E_mu[sum_n (x_n - mu)^2 + lambda0 (mu - mu0)^2] / 2.

Only lambda_N and b_N couple, so the fixed point is also available in closed form
(:meth:`NormalGammaCAVI.optimal_factors`), which pins the iterative updates in tests.
"""

from __future__ import annotations

import math
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from torch.distributions import constraints

from pyrogen.validation import check_finite


class NormalGammaCAVI:
    r"""Coordinate-ascent mean-field VI for x_n ~ N(mu, 1/tau) under a Normal-Gamma prior.

    Args:
        mu0, lambda0: prior mean of mu and its precision relative to tau.
        a0, b0: shape and rate of the Gamma prior on tau.

    Example:
        >>> import torch
        >>> from pyrogen.objectives.cavi import NormalGammaCAVI
        >>> x = torch.tensor([0.9, 1.1, 1.3, 0.7], dtype=torch.float64)
        >>> cavi = NormalGammaCAVI()
        >>> _ = cavi.fit(x, num_iters=50)
        >>> round(cavi.mu_n, 4), round(cavi.a_n, 4)
        (0.8, 3.5)

    References:
        Pattern Recognition and Machine Learning, C. M. Bishop, 2006, sec. 10.1.3,
        eqs. (10.26)-(10.30).
        Variational Inference: A Review for Statisticians, D. M. Blei, A. Kucukelbir,
        J. D. McAuliffe, 2017, eq. (18). https://arxiv.org/abs/1601.00670
    """

    def __init__(self, mu0: float = 0.0, lambda0: float = 1.0, a0: float = 1.0, b0: float = 1.0):
        if lambda0 <= 0 or a0 <= 0 or b0 <= 0:
            raise ValueError(f"lambda0, a0, b0 must be positive, got {lambda0}, {a0}, {b0}")
        self.mu0, self.lambda0, self.a0, self.b0 = mu0, lambda0, a0, b0
        self.mu_n = mu0
        self.lambda_n = lambda0
        self.a_n = a0
        self.b_n = b0

    @staticmethod
    def _check(x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.numel() < 1:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a non-empty 1-D tensor of observations, got {got}")
        check_finite(x)
        return x.double()

    def _sq_terms(self, x: torch.Tensor) -> float:
        """E_q(mu)[sum_n (x_n - mu)^2 + lambda0 (mu - mu0)^2]."""
        n = x.numel()
        var = 1.0 / self.lambda_n
        fit = float(((x - self.mu_n) ** 2).sum()) + n * var
        return fit + self.lambda0 * ((self.mu_n - self.mu0) ** 2 + var)

    def update_mu(self, x: torch.Tensor) -> None:
        """q(mu) <- N(mu_N, 1 / lambda_N) given the current q(tau) (Bishop eqs. 10.26-10.27)."""
        n = x.numel()
        self.mu_n = (self.lambda0 * self.mu0 + float(x.sum())) / (self.lambda0 + n)
        self.lambda_n = (self.lambda0 + n) * self.a_n / self.b_n

    def update_tau(self, x: torch.Tensor) -> None:
        """q(tau) <- Gamma(a_N, b_N) given the current q(mu) (Bishop eqs. 10.29-10.30)."""
        self.a_n = self.a0 + (x.numel() + 1) / 2
        self.b_n = self.b0 + self._sq_terms(x) / 2

    def elbo(self, x: torch.Tensor) -> float:
        r"""E_q[log p(X, mu, tau)] + H[q(mu)] + H[q(tau)], in closed form (nats)."""
        x = self._check(x)
        n = x.numel()
        e_tau = self.a_n / self.b_n
        a_n = torch.tensor(self.a_n, dtype=torch.float64)
        e_log_tau = float(torch.special.digamma(a_n)) - math.log(self.b_n)
        log2pi = math.log(2 * math.pi)
        var = 1.0 / self.lambda_n
        lik = 0.5 * n * (e_log_tau - log2pi) - 0.5 * e_tau * (
            float(((x - self.mu_n) ** 2).sum()) + n * var
        )
        prior_mu = 0.5 * (math.log(self.lambda0) + e_log_tau - log2pi) - 0.5 * (
            self.lambda0 * e_tau * ((self.mu_n - self.mu0) ** 2 + var)
        )
        prior_tau = (
            self.a0 * math.log(self.b0)
            - math.lgamma(self.a0)
            + (self.a0 - 1) * e_log_tau
            - self.b0 * e_tau
        )
        entropy = float(self.q_mu().entropy() + self.q_tau().entropy())
        return lik + prior_mu + prior_tau + entropy

    def fit(self, x: torch.Tensor, num_iters: int = 100, tol: float = 0.0) -> list[float]:
        """Alternates the two updates; returns the ELBO after each sweep (non-decreasing)."""
        x = self._check(x)
        history: list[float] = []
        for _ in range(num_iters):
            self.update_mu(x)
            self.update_tau(x)
            history.append(self.elbo(x))
            if tol > 0 and len(history) > 1 and history[-1] - history[-2] < tol:
                break
        return history

    def optimal_factors(self, x: torch.Tensor) -> dict[str, float]:
        r"""The CAVI fixed point in closed form.

        With S = sum_n (x_n - mu_N)^2 + lambda0 (mu_N - mu0)^2 and E[tau] = a_N / b_N,
        the b_N update reads b_N = b0 + S / 2 + b_N / (2 a_N), so
        b_N = (b0 + S / 2) / (1 - 1 / (2 a_N)) and lambda_N = (lambda0 + N) a_N / b_N.
        """
        x = self._check(x)
        n = x.numel()
        mu_n = (self.lambda0 * self.mu0 + float(x.sum())) / (self.lambda0 + n)
        a_n = self.a0 + (n + 1) / 2
        s = float(((x - mu_n) ** 2).sum()) + self.lambda0 * (mu_n - self.mu0) ** 2
        b_n = (self.b0 + s / 2) / (1 - 1 / (2 * a_n))
        return {"mu_n": mu_n, "lambda_n": (self.lambda0 + n) * a_n / b_n, "a_n": a_n, "b_n": b_n}

    # -- distributions and the same model in Pyro ------------------------------------------
    def q_mu(self) -> dist.Normal:
        """q(mu) = N(mu_N, 1 / lambda_N) (float64)."""
        t = torch.tensor([self.mu_n, self.lambda_n], dtype=torch.float64)
        return dist.Normal(t[0], t[1] ** -0.5)

    def q_tau(self) -> dist.Gamma:
        """q(tau) = Gamma(a_N, b_N) (float64)."""
        t = torch.tensor([self.a_n, self.b_n], dtype=torch.float64)
        return dist.Gamma(t[0], t[1])

    def model(self, x: torch.Tensor) -> None:
        """The Normal-Gamma model in Pyro syntax (sites ``"tau"``, ``"mu"``, ``"x"``)."""
        t = x.new_tensor
        tau = pyro.sample("tau", dist.Gamma(t(self.a0), t(self.b0)))
        mu = pyro.sample("mu", dist.Normal(t(self.mu0), (self.lambda0 * tau) ** -0.5))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(mu, tau**-0.5), obs=x)

    def guide(self, x: torch.Tensor) -> None:
        """Mean-field guide q(mu) q(tau) with free parameters, started at the prior scale."""
        t = x.new_tensor
        loc = pyro.param("q_mu_loc", t(self.mu0))
        scale = pyro.param("q_mu_scale", t(1.0), constraint=constraints.positive)
        conc = pyro.param("q_tau_concentration", t(self.a0), constraint=constraints.positive)
        rate = pyro.param("q_tau_rate", t(self.b0), constraint=constraints.positive)
        pyro.sample("tau", dist.Gamma(conc, rate))
        pyro.sample("mu", dist.Normal(loc, scale))

    def to_inference_data(self, num_samples: int = 1000, seed: int = 0) -> Any:
        """Draws from q(mu) q(tau) as arviz data (one chain): an ``arviz.InferenceData`` with
        arviz 0.x, an ``xarray.DataTree`` with arviz >= 1.0 (see
        :func:`~pyrogen.objectives.posterior_to_arviz`).

        Needs the optional dependency ``arviz``.
        """
        import numpy as np

        from pyrogen.objectives.arviz_export import posterior_to_arviz

        # A local generator, so exporting never moves the global random state.
        rng = np.random.default_rng(seed)
        mu = rng.normal(self.mu_n, 1 / math.sqrt(self.lambda_n), size=(1, num_samples))
        tau = rng.gamma(self.a_n, 1 / self.b_n, size=(1, num_samples))
        return posterior_to_arviz({"mu": mu, "tau": tau})
