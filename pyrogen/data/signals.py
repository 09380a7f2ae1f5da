r"""1-D signals generated in code: a mixture of AR(2) processes and noisy sine and sawtooth waves.

Each signal of length T is drawn from one of three families (chosen uniformly):

* AR(2): x_t = a_1 x_{t-1} + a_2 x_{t-2} + s eps_t with complex poles r e^{+-i theta}
  (a_1 = 2 r cos theta, a_2 = -r^2, r in [0.8, 0.95], theta in [0.1 pi, 0.4 pi]), which is
  stationary, started from zero and scaled to about unit variance;
* sine: A sin(2 pi f t + phi) + noise, f in [0.02, 0.1] cycles per step;
* sawtooth: A (2 frac(f t + phi) - 1) + noise.

The families have different spectra (a resonance peak, a line, a line with harmonics), which
makes the set a small test bed for autoregressive teachers and the students distilled from them.

References:
    Time Series Analysis: Forecasting and Control, G. E. P. Box et al., 4th ed. 2008,
    Section 3.2.4 (the AR(2) process and its pseudo-periodic behaviour with complex roots).
"""

from __future__ import annotations

import math

import torch

SIGNAL_KINDS = ("ar2", "sine", "sawtooth")


def _check(n: int, length: int, noise: float) -> None:
    if n < 1 or length < 2 or noise < 0:
        raise ValueError(
            f"need n >= 1, length >= 2 and noise >= 0, got n={n}, length={length}, noise={noise}"
        )


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, 1, generator=g)


def ar2_signals(n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, length)`` AR(2) signals with random resonant poles, about unit variance."""
    _check(n, length, 0.0)
    r = _uniform(n, 0.8, 0.95, generator)[:, 0]
    theta = math.pi * _uniform(n, 0.1, 0.4, generator)[:, 0]
    a1, a2 = 2 * r * torch.cos(theta), -r.square()
    # Stationary variance of a unit-noise AR(2): (1 - a2) / ((1 + a2)((1 - a2)^2 - a1^2)).
    var = (1 - a2) / ((1 + a2) * ((1 - a2).square() - a1.square()))
    eps = torch.randn(n, length, generator=generator) / var.sqrt()[:, None]
    x = torch.zeros(n, length)
    for t in range(length):
        x[:, t] = eps[:, t]
        if t >= 1:
            x[:, t] += a1 * x[:, t - 1]
        if t >= 2:
            x[:, t] += a2 * x[:, t - 2]
    return x


def periodic_signals(
    n: int,
    length: int,
    kind: str = "sine",
    noise: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``(n, length)`` noisy sine or sawtooth waves with random frequency, phase, amplitude."""
    _check(n, length, noise)
    if kind not in ("sine", "sawtooth"):
        raise ValueError(f"kind must be 'sine' or 'sawtooth', got {kind!r}")
    f = _uniform(n, 0.02, 0.1, generator)
    phase = _uniform(n, 0.0, 1.0, generator)
    amp = _uniform(n, 0.8, 1.5, generator)
    cycles = f * torch.arange(length, dtype=torch.float32) + phase
    wave = torch.sin(2 * math.pi * cycles) if kind == "sine" else 2 * torch.frac(cycles) - 1
    return amp * wave + noise * torch.randn(n, length, generator=generator)


def signal_mixture(
    n: int,
    length: int = 256,
    noise: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x ``(n, length)`` float32, kind ``(n,)`` index into :data:`SIGNAL_KINDS`).

    Example:
        >>> import torch
        >>> from pyrogen.data import signal_mixture
        >>> x, kind = signal_mixture(6, 32, generator=torch.Generator().manual_seed(0))
        >>> x.shape, kind.shape
        (torch.Size([6, 32]), torch.Size([6]))
    """
    _check(n, length, noise)
    kind = torch.randint(len(SIGNAL_KINDS), (n,), generator=generator)
    x = torch.zeros(n, length)
    for k, name in enumerate(SIGNAL_KINDS):
        rows = kind == k
        m = int(rows.sum())
        if m == 0:
            continue
        if name == "ar2":
            x[rows] = ar2_signals(m, length, generator)
        else:
            x[rows] = periodic_signals(m, length, name, noise, generator)
    return x, kind
