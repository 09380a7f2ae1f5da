r"""InfoVAE / MMD-VAE (Zhao et al. 2017): a VAE trained with the InfoVAE objective.

The generative model and guide are the :class:`~pyrogen.models.VAE`'s; what changes is the
objective, :class:`~pyrogen.objectives.InfoVAE_ELBO`:

    E_q[log p(x|z)] - (1 - alpha) KL(q(z|x) || p(z)) - (alpha + lambda - 1) MMD(q(z), p(z)).

The model carries the two weights; ``InfoVAE_ELBO.for_model(vae)`` builds its objective.
"""

from __future__ import annotations

from typing import Any

from pyrogen.models.vae import VAE


def check_info_weights(alpha: float, lambda_: float) -> tuple[float, float]:
    """Raises ``ValueError`` unless the KL weight 1 - alpha and the divergence weight
    alpha + lambda - 1 are both >= 0; returns ``(alpha, lambda_)`` as floats."""
    if not alpha <= 1.0:
        raise ValueError(f"alpha must be <= 1 (the KL weight 1 - alpha >= 0), got {alpha}")
    if alpha + lambda_ - 1 < 0:
        raise ValueError(
            f"the divergence weight alpha + lambda - 1 must be >= 0, got alpha={alpha}, "
            f"lambda={lambda_}"
        )
    return float(alpha), float(lambda_)


class InfoVAE(VAE):
    r"""A :class:`~pyrogen.models.VAE` that carries its InfoVAE weights.

    Args:
        *args: as :class:`~pyrogen.models.VAE`.
        alpha: information preference (1: MMD-VAE, no per-example KL).
        lambda_: divergence weight.
        **kwargs: as :class:`~pyrogen.models.VAE`.

    Example:
        >>> import torch
        >>> from pyrogen.objectives import InfoVAE_ELBO
        >>> from pyrogen.infer import SVITrainer
        >>> vae = InfoVAE((6,), z_dim=2, hidden=(8,), alpha=1.0, lambda_=100.0)
        >>> trainer = SVITrainer(vae, InfoVAE_ELBO.for_model(vae), lr=1e-3)
        >>> out = trainer.step(torch.ones(4, 6))
        >>> bool(torch.isfinite(out["loss"]))
        True

    References:
        InfoVAE: Balancing Learning and Inference in Variational Autoencoders, S. Zhao,
        J. Song, S. Ermon, 2017, eq. (6). https://arxiv.org/abs/1706.02262
    """

    def __init__(self, *args: Any, alpha: float = 1.0, lambda_: float = 1000.0, **kwargs: Any):
        weights = check_info_weights(alpha, lambda_)  # fails now, not at the first step
        super().__init__(*args, **kwargs)
        self.alpha, self.lambda_ = weights
