"""Generative models as PyroModules with ``model``/``guide`` pairs."""

from pyrogen.models.flow_density import FlowDensity
from pyrogen.models.hierarchical_vae import HierarchicalVAE
from pyrogen.models.ladder_vae import LadderVAE
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
    "HierarchicalVAE",
    "LadderVAE",
    "FlowDensity",
    "Bernoulli",
    "ContinuousBernoulli",
    "Gaussian",
    "Likelihood",
    "get_likelihood",
]
