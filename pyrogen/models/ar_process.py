r"""Linear Gaussian AR(p): x_t = c + sum_{k=1}^p a_k x_{t-k} + sigma eps_t, eps_t ~ N(0, 1).

The simplest autoregressive density, with values before the start taken as zero, so that
p(x_1..T) = prod_t N(x_t | c + sum_k a_k x_{t-k}, sigma^2) exactly. Its maximum-likelihood
coefficients are the least-squares regression of x_t on (1, x_{t-1}, ..., x_{t-p}) and
sigma^2 is the mean squared residual; for a long stationary series they approach the
Yule-Walker solution of the sample autocovariance equations.

References:
    Time Series Analysis: Forecasting and Control, G. E. P. Box, G. M. Jenkins, G. C.
    Reinsel, 4th ed. 2008, Sections 3.2 (Yule-Walker) and 7.2 (least squares).
"""

from __future__ import annotations

import torch
from torch import nn

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Gaussian


def lagged(x: torch.Tensor, order: int) -> torch.Tensor:
    """Regressors ``(B, T, p)``: entry [b, t, k-1] = x[b, t-k] (zero before the start)."""
    padded = torch.nn.functional.pad(x, (order, 0))
    return padded.unfold(-1, order, 1)[:, : x.shape[-1]].flip(-1)


def least_squares(x: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(a ``(p,)``, c, sigma) minimizing sum_t (x_t - c - sum_k a_k x_{t-k})^2 over ``x (B, T)``."""
    design = torch.cat([torch.ones_like(x).unsqueeze(-1), lagged(x, order)], -1)
    design, target = design.reshape(-1, order + 1), x.reshape(-1, 1)
    beta = torch.linalg.lstsq(design, target).solution[:, 0]
    resid = target[:, 0] - design @ beta
    return beta[1:], beta[0], resid.square().mean().sqrt()


def yule_walker(x: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""(a, sigma) solving Gamma a = gamma, gamma_k = sample autocovariance at lag k, ``x (T,)``.

    Uses the biased autocovariance (1/T) sum_t (x_t - m)(x_{t+k} - m), which keeps the
    Toeplitz matrix positive definite; sigma^2 = gamma_0 - a . gamma_{1..p}.
    """
    x = x - x.mean()
    n = x.shape[0]
    gamma = torch.stack([(x[: n - k] * x[k:]).sum() / n for k in range(order + 1)])
    idx = (torch.arange(order)[:, None] - torch.arange(order)[None, :]).abs()
    a = torch.linalg.solve(gamma[idx], gamma[1:])
    return a, (gamma[0] - a @ gamma[1:]).sqrt()


class LinearGaussianAR(AutoregressiveModel):
    r"""AR(p) density over sequences of length T (event shape ``(T,)``).

    Args:
        length: T.
        order: p.

    Example:
        >>> import torch
        >>> from pyrogen.models import LinearGaussianAR
        >>> m = LinearGaussianAR(5, order=2)
        >>> m(torch.zeros(3, 5)).shape
        torch.Size([3, 2, 5])

    References:
        Time Series Analysis: Forecasting and Control, G. E. P. Box et al., 2008, Sec. 3.2.
    """

    def __init__(self, length: int, order: int = 1):
        super().__init__((length,), Gaussian(scale="exp"))
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.p = order
        self.coef = nn.Parameter(torch.zeros(order))
        self.intercept = nn.Parameter(torch.zeros(()))
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(loc, log sigma) ``(B, 2, T)`` of every conditional from ``x (B, T)``."""
        loc = self.intercept + lagged(x, self.p) @ self.coef
        return torch.stack([loc, self.log_scale.expand_as(loc)], 1)

    @torch.no_grad()
    def fit_least_squares(self, x: torch.Tensor) -> LinearGaussianAR:
        """Sets the parameters to the closed-form maximum-likelihood solution for ``x (B, T)``."""
        self.check_x(x)
        a, c, sigma = least_squares(x, self.p)
        self.coef.copy_(a)
        self.intercept.copy_(c)
        self.log_scale.copy_(sigma.log())
        return self

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        sigma = self.log_scale.exp()
        for t in range(x.shape[1]):
            k = min(t, self.p)
            past = x[:, t - k : t].flip(-1)  # x_{t-1}, ..., x_{t-k}
            x[:, t] = self.intercept + past @ self.coef[:k] + sigma * noise[:, t, 0]
        return x
