"""Objectives, steppers and the training loop."""

from pyrogen.infer.adversarial import AdversarialSVI, GANPair, default_optimizer
from pyrogen.infer.arviz_export import posterior_to_arviz
from pyrogen.infer.autoencoder_trainer import AutoencoderTrainer
from pyrogen.infer.beta_elbo import BetaELBO, LinearCapacity, LinearWarmup
from pyrogen.infer.callbacks import MetricsCSV, TensorBoardLogger
from pyrogen.infer.cavi import NormalGammaCAVI
from pyrogen.infer.cavi_mixture import BayesianGaussianMixtureCAVI
from pyrogen.infer.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    export_weights,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from pyrogen.infer.depth import coordinate_median, depth_directions, halfspace_depth, tukey_median
from pyrogen.infer.distillation import (
    DensityDistillation,
    DistillationPair,
    analytic_entropy,
    mc_entropy,
)
from pyrogen.infer.distributed import DistContext, PeerLostError, sharded_log_likelihood
from pyrogen.infer.em import GradientEM
from pyrogen.infer.f_divergences import F_DIVERGENCES, FDivergence, get_f_divergence
from pyrogen.infer.fast_elbo import FastPathUnavailable, VAEObjective, fast_objective
from pyrogen.infer.fit import TrainingDivergedError, fit, load_stepper_state, resolve_device
from pyrogen.infer.free_bits import FreeBitsELBO
from pyrogen.infer.gan_loss import GAN_KINDS, GANLoss
from pyrogen.infer.gan_trainer import adversarial_stepper, build_gan, gan_stepper, make_gan_trainer
from pyrogen.infer.gradient_variance import GradientStats, gradient_variance
from pyrogen.infer.info_elbo import InfoVAE_ELBO
from pyrogen.infer.interrupt import TrainingInterrupted
from pyrogen.infer.iwae import IWAE_ELBO
from pyrogen.infer.nvil import NVILBaseline
from pyrogen.infer.penalized_elbo import PenalizedELBO
from pyrogen.infer.robust_gan import SigmoidDiscriminator, robust_mean_gan
from pyrogen.infer.schedules import cosine_schedule, iwae_schedule, step_schedule
from pyrogen.infer.score_function import ScoreFunction_ELBO
from pyrogen.infer.stl import STL_ELBO
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam
from pyrogen.infer.vimco import VIMCO_ELBO

__all__ = [
    "AutoencoderTrainer",
    "DistContext",
    "FastPathUnavailable",
    "VAEObjective",
    "fast_objective",
    "sharded_log_likelihood",
    "DensityDistillation",
    "DistillationPair",
    "analytic_entropy",
    "mc_entropy",
    "IWAE_ELBO",
    "STL_ELBO",
    "VIMCO_ELBO",
    "CheckpointError",
    "CheckpointWriteError",
    "PeerLostError",
    "TrainingInterrupted",
    "export_weights",
    "load_weights",
    "GradientStats",
    "NVILBaseline",
    "PenalizedELBO",
    "BayesianGaussianMixtureCAVI",
    "GradientEM",
    "NormalGammaCAVI",
    "posterior_to_arviz",
    "F_DIVERGENCES",
    "GAN_KINDS",
    "AdversarialSVI",
    "FDivergence",
    "GANLoss",
    "GANPair",
    "BetaELBO",
    "FreeBitsELBO",
    "InfoVAE_ELBO",
    "LinearCapacity",
    "LinearWarmup",
    "SVIAdapter",
    "SVITrainer",
    "ScoreFunction_ELBO",
    "Stepper",
    "TrainingDivergedError",
    "adversarial_stepper",
    "build_gan",
    "default_optimizer",
    "fit",
    "gradient_variance",
    "gan_stepper",
    "get_f_divergence",
    "load_checkpoint",
    "load_stepper_state",
    "make_adam",
    "make_gan_trainer",
    "resolve_device",
    "save_checkpoint",
    "MetricsCSV",
    "TensorBoardLogger",
    "cosine_schedule",
    "iwae_schedule",
    "step_schedule",
    "SigmoidDiscriminator",
    "coordinate_median",
    "depth_directions",
    "halfspace_depth",
    "robust_mean_gan",
    "tukey_median",
]
