r"""FactorVAE (Kim & Mnih 2018): the ELBO minus gamma times the total correlation of q(z).

    max  ELBO(x) - gamma * TC(z),   TC(z) = KL(q(z) || prod_j q(z_j)),

where q(z) = E_{p_data(x)} q(z|x) is the aggregate posterior. TC is estimated with the
density-ratio trick: a discriminator D tells samples of q(z) (label 1) from samples of
prod_j q(z_j) (label 0, obtained by shuffling each latent dimension across the batch), and

    TC(z) ~= E_{q(z)} log( D(z) / (1 - D(z)) ) = E_{q(z)} logit(z).

The VAE and the discriminator are updated in alternation by
:class:`~pyrogen.infer.FactorVAETrainer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from pyrogen.models.vae import VAE
from pyrogen.nn import MLP


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    r"""Shuffles every column of ``z`` (B, D) independently across the batch.

    The rows of the result are draws from prod_j q(z_j) when the rows of ``z`` are draws
    from q(z) (Kim & Mnih 2018, Algorithm 1).
    """
    if z.dim() != 2:
        raise ValueError(f"permute_dims expects z of shape (batch, dim), got {tuple(z.shape)}")
    idx = torch.argsort(torch.rand(z.shape, device=z.device), dim=0)
    return z.gather(0, idx)


class FactorVAE(VAE):
    r"""A :class:`~pyrogen.models.VAE` with the total-correlation discriminator of FactorVAE.

    ``model``/``guide`` are the VAE's; the discriminator maps z (B, z_dim) to the logit
    log D(z)/(1 - D(z)) (B,). Train with :class:`~pyrogen.infer.FactorVAETrainer`.

    Args:
        *args: as :class:`~pyrogen.models.VAE`.
        disc_hidden: hidden sizes of the discriminator MLP (the paper: 6 layers of 1000).
        **kwargs: as :class:`~pyrogen.models.VAE`.

    References:
        Disentangling by Factorising, H. Kim, A. Mnih, 2018, eq. (2) and Algorithm 1.
        https://arxiv.org/abs/1802.05983
    """

    def __init__(self, *args: Any, disc_hidden: Sequence[int] = (256, 256, 256), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.discriminator = MLP(self.z_dim, tuple(disc_hidden), 1, act="leaky_relu")

    def tc_logits(self, z: torch.Tensor) -> torch.Tensor:
        """log D(z) / (1 - D(z)) for z ``(B, z_dim)`` -> ``(B,)``."""
        return self.discriminator(z).squeeze(-1)

    def tc_estimate(self, z: torch.Tensor) -> torch.Tensor:
        """Density-ratio estimate of TC(z) from draws z ``(B, z_dim)`` of q(z); 0-dim."""
        return self.tc_logits(z).mean()
