"""Inference: everything that owns an optimizer, and the objectives it minimizes.

The loop (:func:`fit`), the :class:`Stepper` protocol and the steppers (:class:`SVITrainer`
for every Pyro objective, :class:`AdversarialSVI` for GANs, the FactorVAE, VQ-VAE,
autoencoder, distillation and EM steppers), checkpoints, distributed training, callbacks,
and the faster implementations of an objective that :class:`SVITrainer` may choose behind
its one seam (:func:`~pyrogen.infer.objective.compile_objective`). The objectives
themselves live one layer below, in :mod:`pyrogen.objectives`, and are re-exported here, so
that a user imports from one place (``from pyrogen.infer import SVITrainer, IWAE_ELBO, fit``).
"""

from pyrogen.infer.adversarial import AdversarialSVI, GANPair, default_optimizer
from pyrogen.infer.autoencoder_trainer import AutoencoderTrainer
from pyrogen.infer.callbacks import MetricsCSV, TensorBoardLogger
from pyrogen.infer.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    export_weights,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from pyrogen.infer.distillation import DensityDistillation
from pyrogen.infer.distributed import DistContext, PeerLostError, sharded_log_likelihood
from pyrogen.infer.em import GradientEM
from pyrogen.infer.factor_vae_trainer import FactorVAETrainer
from pyrogen.infer.fast_elbo import FastPathUnavailable, VAEObjective, fast_objective
from pyrogen.infer.fit import TrainingDivergedError, fit, load_stepper_state, resolve_device
from pyrogen.infer.gan_trainer import adversarial_stepper, build_gan, gan_stepper, make_gan_trainer
from pyrogen.infer.interrupt import TrainingInterrupted
from pyrogen.infer.robust_gan import SigmoidDiscriminator, robust_mean_gan
from pyrogen.infer.schedules import cosine_schedule, iwae_schedule, step_schedule
from pyrogen.infer.stepper import Stepper, make_adam
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.infer.trainer import SVITrainer
from pyrogen.infer.vq_vae_trainer import VQVAETrainer
from pyrogen.objectives import (
    IWAE_ELBO,
    STL_ELBO,
    VIMCO_ELBO,
    BayesianGaussianMixtureCAVI,
    BetaELBO,
    DistillationLoss,
    DistillationPair,
    FDivergence,
    FreeBitsELBO,
    GANLoss,
    GradientStats,
    InfoVAE_ELBO,
    LinearCapacity,
    LinearWarmup,
    NormalGammaCAVI,
    NVILBaseline,
    PenalizedELBO,
    ScoreFunction_ELBO,
    analytic_entropy,
    coordinate_median,
    depth_directions,
    get_f_divergence,
    gradient_variance,
    halfspace_depth,
    mc_entropy,
    posterior_to_arviz,
    tukey_median,
)

__all__ = [
    "BayesianGaussianMixtureCAVI",
    "BetaELBO",
    "DistillationLoss",
    "DistillationPair",
    "FDivergence",
    "FreeBitsELBO",
    "GANLoss",
    "GradientStats",
    "IWAE_ELBO",
    "InfoVAE_ELBO",
    "LinearCapacity",
    "LinearWarmup",
    "PenalizedELBO",
    "NVILBaseline",
    "NormalGammaCAVI",
    "STL_ELBO",
    "ScoreFunction_ELBO",
    "VIMCO_ELBO",
    "analytic_entropy",
    "coordinate_median",
    "depth_directions",
    "halfspace_depth",
    "tukey_median",
    "get_f_divergence",
    "gradient_variance",
    "mc_entropy",
    "posterior_to_arviz",
    "AdversarialSVI",
    "AutoencoderTrainer",
    "CheckpointError",
    "CheckpointWriteError",
    "DensityDistillation",
    "DistContext",
    "FactorVAETrainer",
    "FastPathUnavailable",
    "GANPair",
    "GradientEM",
    "MetricsCSV",
    "PeerLostError",
    "SVIAdapter",
    "SVITrainer",
    "Stepper",
    "TensorBoardLogger",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "VAEObjective",
    "VQVAETrainer",
    "SigmoidDiscriminator",
    "adversarial_stepper",
    "build_gan",
    "cosine_schedule",
    "default_optimizer",
    "export_weights",
    "fast_objective",
    "fit",
    "gan_stepper",
    "iwae_schedule",
    "load_checkpoint",
    "load_stepper_state",
    "load_weights",
    "make_adam",
    "make_gan_trainer",
    "resolve_device",
    "robust_mean_gan",
    "save_checkpoint",
    "sharded_log_likelihood",
    "step_schedule",
]
