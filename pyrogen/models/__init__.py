"""Generative models as PyroModules with ``model``/``guide`` pairs."""

from pyrogen.models.ar_heads import (
    ARHead,
    BernoulliHead,
    CategoricalHead,
    GaussianHead,
    get_head,
)
from pyrogen.models.ar_process import LinearGaussianAR
from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.conditioned import Conditioned
from pyrogen.models.discretized_logistic import DiscretizedLogisticMixture
from pyrogen.models.finite_memory import FiniteMemoryMLP
from pyrogen.models.gated_pixelcnn import GatedPixelCNN
from pyrogen.models.likelihoods import (
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    get_likelihood,
)
from pyrogen.models.made import MADE
from pyrogen.models.pixelcnn import PixelCNN
from pyrogen.models.pixelcnnpp import PixelCNNpp
from pyrogen.models.rnn_density import RNNDensity
from pyrogen.models.transformer_density import TransformerDensity
from pyrogen.models.vae import VAE
from pyrogen.models.wavenet import WaveNet

__all__ = [
    "MADE",
    "VAE",
    "ARHead",
    "AutoregressiveModel",
    "Bernoulli",
    "BernoulliHead",
    "CategoricalHead",
    "Conditioned",
    "ContinuousBernoulli",
    "DiscretizedLogisticMixture",
    "FiniteMemoryMLP",
    "Gaussian",
    "GaussianHead",
    "GatedPixelCNN",
    "Likelihood",
    "LinearGaussianAR",
    "PixelCNN",
    "PixelCNNpp",
    "RNNDensity",
    "TransformerDensity",
    "WaveNet",
    "get_head",
    "get_likelihood",
]
