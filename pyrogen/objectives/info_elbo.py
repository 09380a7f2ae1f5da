r"""The InfoVAE objective (Zhao et al. 2017) with an MMD divergence between q(z) and p(z).

    L = E_q[log p(x|z)] - (1 - alpha) KL(q(z|x) || p(z)) - (alpha + lambda - 1) D(q(z) || p(z))

where q(z) = E_{p_data(x)} q(z|x) is the aggregate posterior and D is the maximum mean
discrepancy, estimated from the batch's codes z_i ~ q(z|x_i) and as many draws of p(z):

    MMD^2 = mean_{ij} k(z_i, z_j) + mean_{ij} k(z'_i, z'_j) - 2 mean_{ij} k(z_i, z'_j).

alpha = 1 gives MMD-VAE (no KL term); alpha = 0, lambda = 1 is the ELBO.
"""

from __future__ import annotations

from typing import Any

import torch
from pyro.util import warn_if_nan

from pyrogen.metrics.mmd import mmd as mmd_squared
from pyrogen.models.info_vae import InfoVAE, check_info_weights
from pyrogen.objectives.penalized_elbo import PenalizedELBO


class InfoVAE_ELBO(PenalizedELBO):
    r"""Negative InfoVAE objective, summed over the ``"data"`` plate of N examples:

        -sum_i E_q log p(x_i|z) + (1 - alpha) sum_i KL_i + (alpha + lambda - 1) N MMD^2.

    The KL is the single-sample estimate log q(z|x) - log p(z) of ``Trace_ELBO``. The MMD
    compares, per latent site, the codes of the batch (one row per example) with as many
    draws from that site's prior: the biased MMD^2 of :func:`pyrogen.metrics.mmd` with a
    Gaussian kernel (:class:`pyro.infer.Trace_MMD` uses the same estimator, but treats the
    particle dimension as the sample axis and so cannot see the aggregate posterior over a
    data batch).

    Args:
        alpha: information preference; 1 removes the per-example KL (MMD-VAE).
        lambda_: weight of the divergence between q(z) and p(z) (Zhao et al.: 1000 for
            MMD-VAE on MNIST, with per-example mean losses).
        bandwidth: the kernel width sigma in exp(-||a - b||^2 / (2 sigma^2)); default
            2 sigma^2 = dim(z), the bandwidth of Zhao et al.'s tutorial.
        num_particles: samples z ~ q per example.

    References:
        InfoVAE: Balancing Learning and Inference in Variational Autoencoders, S. Zhao,
        J. Song, S. Ermon, 2017, eq. (6) and Sec. 3.2 (MMD). https://arxiv.org/abs/1706.02262
    """

    def __init__(
        self,
        alpha: float = 1.0,
        lambda_: float = 1000.0,
        bandwidth: float | None = None,
        num_particles: int = 1,
        **kwargs: Any,
    ):
        alpha, lambda_ = check_info_weights(alpha, lambda_)
        if bandwidth is not None and not bandwidth > 0:
            raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
        super().__init__(num_particles=num_particles, **kwargs)
        self.alpha, self.lambda_ = alpha, lambda_
        self.bandwidth = bandwidth
        self.last_terms: dict[str, float] = {}

    @classmethod
    def for_model(cls, model: InfoVAE, **kwargs: Any) -> InfoVAE_ELBO:
        """The InfoVAE objective with the weights ``alpha`` and ``lambda_`` that ``model``
        carries; ``kwargs`` as for the constructor (``bandwidth``, ``num_particles``)."""
        return cls(alpha=model.alpha, lambda_=model.lambda_, **kwargs)

    def penalized_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        loss: Any = 0.0
        kl_w, mmd_w = 1.0 - self.alpha, self.alpha + self.lambda_ - 1.0
        mmd_total = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            log_lik: Any = 0.0
            kl: Any = 0.0
            mmd: Any = 0.0
            n = 1
            for name, site in model_trace.nodes.items():
                if site["type"] != "sample":
                    continue
                if site["is_observed"] or name not in guide_trace.nodes:
                    log_lik = log_lik + site["log_prob_sum"]
                    for frame in site["cond_indep_stack"]:
                        if frame.name == "data":
                            n = int(frame.size)
                    continue
                q_site = guide_trace.nodes[name]
                if not q_site["fn"].has_rsample:
                    raise ValueError(f"InfoVAE_ELBO needs a reparameterized guide site {name!r}")
                kl = kl + q_site["log_prob_sum"] - site["log_prob_sum"]
                z_q = q_site["value"]
                batch = z_q.shape[: z_q.dim() - site["fn"].event_dim]
                z_q = z_q.reshape(batch.numel(), -1)  # one row per example
                z_p = site["fn"].sample().reshape(z_q.shape).to(z_q)
                sigma = self.bandwidth or (z_q.shape[1] / 2) ** 0.5
                divergence = mmd_squared(z_q, z_p, bandwidth=sigma, unbiased=False)
                mmd = mmd + divergence.to(z_q.dtype)
            particle = -log_lik + kl_w * kl + mmd_w * n * mmd
            loss = loss + particle / self.num_particles
            mmd_total += float(torch.as_tensor(mmd).detach()) / self.num_particles
        warn_if_nan(loss, "loss")
        self.last_terms = {"mmd": mmd_total}
        return torch.as_tensor(loss)
