"""Generative models as PyroModules with ``model``/``guide`` pairs."""

from pyrogen.models.ar_process import LinearGaussianAR
from pyrogen.models.ar_teacher import ar2_autocorrelation, ar2_teacher, ar_gaussian
from pyrogen.models.autoencoder import Autoencoder
from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.conditioned import Conditioned
from pyrogen.models.contractive_autoencoder import ContractiveAutoencoder, jacobian_frobenius
from pyrogen.models.denoising_autoencoder import DenoisingAutoencoder
from pyrogen.models.discretized_logistic import DiscretizedLogisticMixture
from pyrogen.models.factor_vae import FactorVAE, permute_dims
from pyrogen.models.finite_memory import FiniteMemoryMLP
from pyrogen.models.flow_density import FlowDensity
from pyrogen.models.gan import Discriminator, Generator
from pyrogen.models.gated_pixelcnn import GatedPixelCNN
from pyrogen.models.gaussian_mixture import GaussianMixture, kmeans
from pyrogen.models.glow import Glow
from pyrogen.models.hierarchical_vae import HierarchicalVAE
from pyrogen.models.iaf_student import IAFStudent, iaf_step
from pyrogen.models.info_vae import InfoVAE
from pyrogen.models.infogan import InfoGANDiscriminator, InfoGANGenerator
from pyrogen.models.ladder_vae import LadderVAE
from pyrogen.models.latent_arithmetic import apply_attribute, attribute_vector, lerp, slerp
from pyrogen.models.likelihoods import (
    AutoregressiveForm,
    Bernoulli,
    Categorical,
    ContinuousBernoulli,
    DecoderForm,
    Gaussian,
    Likelihood,
    get_likelihood,
)
from pyrogen.models.linear_gaussian_vae import LinearGaussianVAE
from pyrogen.models.made import MADE
from pyrogen.models.pixel_vae import PixelVAE, PixelVAEDecoder
from pyrogen.models.pixelcnn import PixelCNN
from pyrogen.models.pixelcnnpp import PixelCNNpp
from pyrogen.models.protocols import (
    Encoder,
    ExactDensity,
    GenerativeModel,
    HasGuide,
    MeanSampler,
    ModelGuidePair,
    Reconstructor,
    Sampler,
    draws_means,
    implements,
)
from pyrogen.models.rnn_density import RNNDensity
from pyrogen.models.transformer_density import TransformerDensity
from pyrogen.models.vae import VAE
from pyrogen.models.vq_vae import VQVAE
from pyrogen.models.vq_vae2 import VQVAE2
from pyrogen.models.wavenet import WaveNet
from pyrogen.models.windowed_ar_vae import WindowedARDecoder, WindowedARVAE

__all__ = [
    "Encoder",
    "ExactDensity",
    "GenerativeModel",
    "HasGuide",
    "MeanSampler",
    "ModelGuidePair",
    "Reconstructor",
    "Sampler",
    "draws_means",
    "implements",
    "Glow",
    "VQVAE2",
    "apply_attribute",
    "attribute_vector",
    "lerp",
    "slerp",
    "PixelVAE",
    "PixelVAEDecoder",
    "Autoencoder",
    "ContractiveAutoencoder",
    "DenoisingAutoencoder",
    "jacobian_frobenius",
    "iaf_step",
    "IAFStudent",
    "ar2_autocorrelation",
    "ar2_teacher",
    "ar_gaussian",
    "MADE",
    "VAE",
    "HierarchicalVAE",
    "LadderVAE",
    "FlowDensity",
    "GaussianMixture",
    "AutoregressiveModel",
    "VQVAE",
    "FactorVAE",
    "InfoVAE",
    "Bernoulli",
    "Conditioned",
    "ContinuousBernoulli",
    "Discriminator",
    "Gaussian",
    "Generator",
    "InfoGANDiscriminator",
    "InfoGANGenerator",
    "Likelihood",
    "DecoderForm",
    "AutoregressiveForm",
    "LinearGaussianVAE",
    "WindowedARDecoder",
    "WindowedARVAE",
    "DiscretizedLogisticMixture",
    "FiniteMemoryMLP",
    "GatedPixelCNN",
    "LinearGaussianAR",
    "PixelCNN",
    "PixelCNNpp",
    "RNNDensity",
    "TransformerDensity",
    "WaveNet",
    "get_likelihood",
    "kmeans",
    "permute_dims",
    "Categorical",
]
