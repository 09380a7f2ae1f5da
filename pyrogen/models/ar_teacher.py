r"""An analytic AR(2) teacher: x_t = a_1 x_{t-1} + a_2 x_{t-2} + sigma eps_t as a T-dim Gaussian.

Writing the recursion as B x = sigma eps with B unit lower triangular (B_{t,t-k} = -a_k,
values before the start zero) gives x ~ N(0, sigma^2 B^{-1} B^{-T}) exactly, so the KL
divergence from any Gaussian student to the teacher is available in closed form. For a
stationary process (roots of 1 - a_1 u - a_2 u^2 outside the unit circle) the autocorrelation
obeys the Yule-Walker recursion rho_1 = a_1 / (1 - a_2), rho_k = a_1 rho_{k-1} + a_2 rho_{k-2}.

References:
    Time Series Analysis: Forecasting and Control, G. E. P. Box, G. M. Jenkins, G. C.
    Reinsel, 4th ed. 2008, Section 3.2.4 (the AR(2) process, eqs. (3.2.34)-(3.2.36)).
"""

from __future__ import annotations

import torch

from pyrogen.models.ar_process import LinearGaussianAR


def _check_stationary(a1: float, a2: float) -> None:
    # The AR(2) stationarity triangle: a_1 + a_2 < 1, a_2 - a_1 < 1, |a_2| < 1.
    if not (a1 + a2 < 1 and a2 - a1 < 1 and abs(a2) < 1):
        raise ValueError(f"AR(2) coefficients ({a1}, {a2}) are not stationary")


def ar2_teacher(length: int, a1: float, a2: float, scale: float = 1.0) -> LinearGaussianAR:
    """A :class:`LinearGaussianAR` of order 2 with fixed, untrainable coefficients."""
    _check_stationary(a1, a2)
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    model = LinearGaussianAR(length, order=2)
    with torch.no_grad():
        model.coef.copy_(torch.tensor([a1, a2]))
        model.log_scale.fill_(float(torch.tensor(scale).log()))
    return model.requires_grad_(False)


def ar_gaussian(model: LinearGaussianAR) -> tuple[torch.Tensor, torch.Tensor]:
    r"""(mean ``(T,)``, scale_tril ``(T, T)``) of the joint N(B^{-1} c 1, sigma^2 B^{-1} B^{-T})."""
    t = model.x_shape[0]
    coef = model.coef.detach()
    b = torch.eye(t, dtype=coef.dtype, device=coef.device)
    for k in range(1, model.p + 1):
        b = b - coef[k - 1] * torch.diag(torch.ones(t - k, dtype=coef.dtype), -k).to(b)
    inv = torch.linalg.solve_triangular(b, torch.eye(t).to(b), upper=False)
    mean = inv @ model.intercept.detach().expand(t)
    return mean, model.log_scale.detach().exp() * inv


def ar2_autocorrelation(a1: float, a2: float, max_lag: int) -> torch.Tensor:
    """Stationary autocorrelation rho_0..rho_max_lag ``(max_lag + 1,)`` of an AR(2)."""
    _check_stationary(a1, a2)
    rho = [1.0, a1 / (1 - a2)]
    for _ in range(2, max_lag + 1):
        rho.append(a1 * rho[-1] + a2 * rho[-2])
    return torch.tensor(rho[: max_lag + 1])
