"""Generative models as PyroModules with ``model``/``guide`` pairs."""

from pyrogen.models.factor_vae import FactorVAE, FactorVAETrainer, permute_dims
from pyrogen.models.likelihoods import (
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    get_likelihood,
)
from pyrogen.models.vae import VAE

__all__ = [
    "VAE",
    "FactorVAE",
    "FactorVAETrainer",
    "Bernoulli",
    "ContinuousBernoulli",
    "Gaussian",
    "Likelihood",
    "get_likelihood",
    "permute_dims",
]
