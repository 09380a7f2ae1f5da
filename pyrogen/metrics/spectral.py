r"""Second-order statistics of 1-D signals: rho_k = E[(x_t - m)(x_{t+k} - m)] / var and the
periodogram |FFT(x)|^2 / T.

References:
    Time Series Analysis: Forecasting and Control, G. E. P. Box et al., 4th ed. 2008,
    Section 2.1.4 (sample autocorrelation, eq. (2.1.12)) and Section 2.2 (periodogram).
"""

from __future__ import annotations

import torch


def _check_signals(x: torch.Tensor) -> None:
    if x.dim() != 2 or x.shape[1] < 2:
        raise ValueError(f"x must be signals of shape (batch, T) with T >= 2, got {tuple(x.shape)}")


def autocorrelation(x: torch.Tensor, max_lag: int) -> torch.Tensor:
    r"""Sample autocorrelation ``(max_lag + 1,)`` pooled over signals ``x (B, T)``.

    gamma_k = sum_{b,t} (x_{b,t} - m)(x_{b,t+k} - m) / (B T) with m the overall mean (the
    biased estimator, a positive definite sequence), rho_k = gamma_k / gamma_0.
    """
    _check_signals(x)
    if not 0 <= max_lag < x.shape[1]:
        raise ValueError(f"max_lag must lie in [0, {x.shape[1] - 1}], got {max_lag}")
    x = x - x.mean()
    n = x.numel()
    gamma = torch.stack([(x[:, : x.shape[1] - k] * x[:, k:]).sum() / n for k in range(max_lag + 1)])
    return gamma / gamma[0]


def power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Mean periodogram ``(T // 2 + 1,)`` of signals ``x (B, T)``: mean_b |rfft(x_b)|^2 / T."""
    _check_signals(x)
    return torch.fft.rfft(x, dim=-1).abs().square().mean(0) / x.shape[1]
