r"""InfoVAE / MMD-VAE (Zhao et al. 2017): a VAE trained with the InfoVAE objective.

The generative model and guide are the :class:`~pyrogen.models.VAE`'s; what changes is the
objective, :class:`~pyrogen.infer.info_elbo.InfoVAE_ELBO`:

    E_q[log p(x|z)] - (1 - alpha) KL(q(z|x) || p(z)) - (alpha + lambda - 1) MMD(q(z), p(z)).
"""

from __future__ import annotations

from typing import Any

from pyrogen.infer.info_elbo import InfoVAE_ELBO
from pyrogen.infer.trainer import SVITrainer
from pyrogen.models.vae import VAE


class InfoVAE(VAE):
    r"""A :class:`~pyrogen.models.VAE` that carries its InfoVAE weights.

    Args:
        *args: as :class:`~pyrogen.models.VAE`.
        alpha: information preference (1: MMD-VAE, no per-example KL).
        lambda_: divergence weight.
        **kwargs: as :class:`~pyrogen.models.VAE`.

    Example:
        >>> import torch
        >>> vae = InfoVAE((6,), z_dim=2, hidden=(8,), alpha=1.0, lambda_=100.0)
        >>> trainer = vae.trainer(lr=1e-3)
        >>> out = trainer.step(torch.ones(4, 6))
        >>> bool(torch.isfinite(out["loss"]))
        True

    References:
        InfoVAE: Balancing Learning and Inference in Variational Autoencoders, S. Zhao,
        J. Song, S. Ermon, 2017, eq. (6). https://arxiv.org/abs/1706.02262
    """

    def __init__(self, *args: Any, alpha: float = 1.0, lambda_: float = 1000.0, **kwargs: Any):
        InfoVAE_ELBO(alpha=alpha, lambda_=lambda_)  # fails now on bad weights, not at step 1
        super().__init__(*args, **kwargs)
        self.alpha, self.lambda_ = float(alpha), float(lambda_)

    def objective(self, **kwargs: Any) -> InfoVAE_ELBO:
        """The InfoVAE loss with this model's alpha and lambda."""
        return InfoVAE_ELBO(alpha=self.alpha, lambda_=self.lambda_, **kwargs)

    def trainer(self, lr: float = 1e-3) -> SVITrainer:
        """An :class:`~pyrogen.infer.SVITrainer` on :meth:`objective`, ready for ``fit``."""
        return SVITrainer(self, self.objective(), lr=lr)
