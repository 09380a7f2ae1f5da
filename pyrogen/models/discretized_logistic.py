r"""PixelCNN++'s discretized logistic mixture likelihood for one sub-pixel.

With values rescaled to y in [-1, 1] on a grid of ``num_bins`` levels (half bin width
h = 1 / (num_bins - 1)) and a mixture of K logistics with weights pi, means mu and scales s,

    P(y) = sum_k pi_k [sigma((y + h - mu_k) / s_k) - sigma((y - h - mu_k) / s_k)],

where the lowest bin extends to -inf (the first sigma term alone) and the highest to +inf
(one minus the second term), so the probabilities of the ``num_bins`` levels sum to one
exactly (a telescoping sum).

References:
    PixelCNN++: Improving the PixelCNN with Discretized Logistic Mixture Likelihood and Other
    Modifications, T. Salimans, A. Karpathy, X. Chen, D. P. Kingma, 2017, eq. (2).
    https://arxiv.org/abs/1701.05517
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import constraints

from pyrogen.models.likelihoods import AutoregressiveForm


def _log_sigmoid_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(sigma(a) - sigma(b)) for a > b, stable in both tails.

    sigma(a) - sigma(b) = sigma(-b) - sigma(-a); the side whose terms are away from 1 keeps
    the precision of the difference, so the sign of the midpoint picks it.
    """
    flip = (a + b) > 0
    a2 = torch.where(flip, -b, a)
    b2 = torch.where(flip, -a, b)
    la, lb = F.logsigmoid(a2), F.logsigmoid(b2)
    # log(e^la - e^lb) = la + log(1 - e^(lb - la)); clamp keeps log finite when a == b.
    return la + torch.log(-torch.expm1((lb - la).clamp(max=-1e-12)))


class DiscretizedLogisticMixture(AutoregressiveForm):
    r"""Mixture of K discretized logistics on ``num_bins`` levels of [0, 1] (per position).

    Parameters per position: K mixture logits, K means (on the [-1, 1] scale) and K log
    scales, so ``params_per_value = 3 K``. Data are values k / (num_bins - 1), k = 0..num_bins-1
    (8-bit images: ``num_bins=256``; binary images: ``num_bins=2``).

    Args:
        num_mixtures: K.
        num_bins: number of discrete levels.
        min_log_scale: floor of log s, which keeps the density bounded.

    References:
        PixelCNN++: Improving the PixelCNN with Discretized Logistic Mixture Likelihood and
        Other Modifications, T. Salimans et al., 2017, eq. (2). https://arxiv.org/abs/1701.05517
    """

    name = "discretized_logistic"
    noise_dim = 2

    def __init__(self, num_mixtures: int = 5, num_bins: int = 256, min_log_scale: float = -7.0):
        if num_mixtures < 1 or num_bins < 2:
            raise ValueError(
                f"need num_mixtures >= 1 and num_bins >= 2, got {num_mixtures} and {num_bins}"
            )
        self.num_mixtures = num_mixtures
        self.num_bins = num_bins
        self.min_log_scale = min_log_scale
        self.params_per_value = 3 * num_mixtures

    @property
    def support(self) -> constraints.Constraint:
        return constraints.interval(0.0, 1.0)

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = self.num_mixtures
        logit_pi, mu, log_s = params[:, :k], params[:, k : 2 * k], params[:, 2 * k :]
        return logit_pi, mu, log_s.clamp(min=self.min_log_scale)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logit_pi, mu, log_s = self._split(params)  # each (N, K, D)
        y = (2 * x - 1).unsqueeze(1)  # (N, 1, D) on the [-1, 1] scale
        h = 1.0 / (self.num_bins - 1)
        inv_s = torch.exp(-log_s)
        upper = (y + h - mu) * inv_s
        lower = (y - h - mu) * inv_s
        # Edge bins absorb the tails: log sigma(upper) at the bottom, log(1 - sigma(lower))
        # at the top, the log-difference in between.
        mid = _log_sigmoid_diff(upper, lower)
        bottom = F.logsigmoid(upper)
        top = F.logsigmoid(-lower)
        log_bin = torch.where(y < -1 + h / 2, bottom, torch.where(y > 1 - h / 2, top, mid))
        return torch.logsumexp(logit_pi.log_softmax(dim=1) + log_bin, dim=1)

    def sample(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        logit_pi, mu, log_s = self._split(params.unsqueeze(-1))
        logit_pi, mu, log_s = logit_pi[..., 0], mu[..., 0], log_s[..., 0]  # (N, K)
        cdf = logit_pi.softmax(dim=-1).cumsum(dim=-1)
        comp = (cdf < noise[:, :1]).sum(dim=-1, keepdim=True).clamp(max=self.num_mixtures - 1)
        u = noise[:, 1].clamp(1e-6, 1 - 1e-6)
        # Logistic by inverse CDF, then the bin it falls in: an exact draw of the
        # discretized variable.
        y = mu.gather(1, comp)[:, 0] + log_s.gather(1, comp)[:, 0].exp() * (
            torch.log(u) - torch.log1p(-u)
        )
        k = torch.round((y + 1) / 2 * (self.num_bins - 1)).clamp(0, self.num_bins - 1)
        return k / (self.num_bins - 1)

    def check_support(self, x: torch.Tensor) -> None:
        k = x * (self.num_bins - 1)
        bad = (x < 0) | (x > 1) | ((k - k.round()).abs() > 1e-4)
        if bool(bad.any()):
            raise ValueError(
                f"x must lie on the grid k/{self.num_bins - 1} of [0, 1] for a discretized "
                f"logistic likelihood with {self.num_bins} bins, but {int(bad.sum())} value(s) "
                f"do not, e.g. {x[bad].flatten()[:3].tolist()}"
            )

    def input_scale(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x - 1
