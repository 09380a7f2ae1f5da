"""Generative models as PyroModules with ``model``/``guide`` pairs."""

from pyrogen.models.flow_density import FlowDensity
from pyrogen.models.gaussian_mixture import GaussianMixture, kmeans
from pyrogen.models.hierarchical_vae import HierarchicalVAE
from pyrogen.models.ladder_vae import LadderVAE
from pyrogen.models.likelihoods import (
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    get_likelihood,
)
from pyrogen.models.linear_gaussian_vae import LinearGaussianVAE
from pyrogen.models.vae import VAE
from pyrogen.models.windowed_ar_vae import WindowedARDecoder, WindowedARVAE

__all__ = [
    "VAE",
    "HierarchicalVAE",
    "LadderVAE",
    "FlowDensity",
    "GaussianMixture",
    "Bernoulli",
    "ContinuousBernoulli",
    "Gaussian",
    "Likelihood",
    "LinearGaussianVAE",
    "WindowedARDecoder",
    "WindowedARVAE",
    "get_likelihood",
    "kmeans",
]
