r"""Huber's contamination model: :math:`X_i \sim (1 - \epsilon) N(\theta, I_p) + \epsilon Q`."""

from __future__ import annotations

import torch


def huber_contamination(
    n: int,
    theta: torch.Tensor,
    eps: float,
    outlier_loc: torch.Tensor | float,
    outlier_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draws :math:`X_i \sim (1 - \epsilon) N(\theta, I_p) + \epsilon N(\mu_Q, \sigma_Q^2 I_p)`.

    Each draw is an outlier independently with probability :math:`\epsilon` (Huber's model),
    so the number of outliers is Binomial(n, eps), not exactly ``eps * n``.

    Args:
        n: number of draws.
        theta: the location :math:`\theta`, shape ``(p,)``; sets dtype and device.
        eps: contamination rate in [0, 1).
        outlier_loc: the contamination's mean :math:`\mu_Q`, shape ``(p,)`` or a scalar
            (then ``outlier_loc * 1_p``).
        outlier_scale: the contamination's standard deviation :math:`\sigma_Q > 0`.
        generator: torch random generator; the global one when ``None``.

    Returns:
        ``x`` (n, p) and ``is_outlier`` (n,) bool, which marks the draws from Q.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, out = huber_contamination(10000, torch.zeros(3), 0.2, 5.0, generator=g)
        >>> x.shape, round(out.double().mean().item(), 2), x[~out].mean(0).abs().max() < 0.05
        (torch.Size([10000, 3]), 0.2, tensor(True))

    References:
        Robust Estimation of a Location Parameter, P. J. Huber, 1964, Ann. Math. Statist.
        35(1), eq. (1.1) (the contamination neighbourhood).
        Robust Estimation and Generative Adversarial Nets, C. Gao, J. Liu, Y. Yao, W. Zhu,
        2019, sec. 1. https://arxiv.org/abs/1810.02030
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(theta, torch.Tensor) or theta.dim() != 1 or not theta.is_floating_point():
        got = theta.shape if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise ValueError(f"theta must be a floating tensor of shape (p,), got {got}")
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must lie in [0, 1), got {eps!r}")
    if not outlier_scale > 0:
        raise ValueError(f"outlier_scale must be > 0, got {outlier_scale!r}")
    p = theta.shape[0]
    loc = torch.as_tensor(outlier_loc, dtype=theta.dtype, device=theta.device)
    if loc.shape not in ((), (p,)):
        raise ValueError(f"outlier_loc must be a scalar or of shape ({p},), got {tuple(loc.shape)}")
    dtype, device = theta.dtype, theta.device
    noise = torch.randn(n, p, generator=generator, dtype=dtype, device=device)
    is_outlier = torch.rand(n, generator=generator, dtype=dtype, device=device) < eps
    # inliers theta + z, outliers mu_Q + sigma_Q z: one noise draw serves both
    x = torch.where(is_outlier[:, None], loc + outlier_scale * noise, theta + noise)
    return x, is_outlier
