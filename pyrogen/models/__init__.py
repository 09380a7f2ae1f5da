"""Generative models as PyroModules with ``model``/``guide`` pairs."""

from pyrogen.models.gan import Discriminator, Generator
from pyrogen.models.infogan import InfoGANDiscriminator, InfoGANGenerator
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
    "Bernoulli",
    "ContinuousBernoulli",
    "Discriminator",
    "Gaussian",
    "Generator",
    "InfoGANDiscriminator",
    "InfoGANGenerator",
    "Likelihood",
    "get_likelihood",
]
