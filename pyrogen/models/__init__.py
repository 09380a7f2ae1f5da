"""Generative models as PyroModules with ``model``/``guide`` pairs."""

from pyrogen.models.code_prior import CodePixelCNN
from pyrogen.models.factor_vae import FactorVAE, FactorVAETrainer, permute_dims
from pyrogen.models.info_vae import InfoVAE
from pyrogen.models.likelihoods import (
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    get_likelihood,
)
from pyrogen.models.vae import VAE
from pyrogen.models.vq_vae import VQVAE, VQVAETrainer

__all__ = [
    "VAE",
    "VQVAE",
    "VQVAETrainer",
    "CodePixelCNN",
    "FactorVAE",
    "FactorVAETrainer",
    "InfoVAE",
    "Bernoulli",
    "ContinuousBernoulli",
    "Gaussian",
    "Likelihood",
    "get_likelihood",
    "permute_dims",
]
