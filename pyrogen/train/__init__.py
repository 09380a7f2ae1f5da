"""Training: everything that owns an optimizer.

The loop (:func:`fit`), the :class:`Stepper` protocol and the steppers (:class:`SVITrainer`
for every Pyro objective, :class:`AdversarialSVI` for GANs, the FactorVAE, VQ-VAE,
autoencoder, distillation and EM steppers), checkpoints, distributed training, callbacks,
and the faster implementations of an objective that :class:`SVITrainer` may choose behind
its one seam (:func:`~pyrogen.train.objective.compile_objective`).
"""

from pyrogen.train.adversarial import AdversarialSVI, GANPair, default_optimizer
from pyrogen.train.autoencoder_trainer import AutoencoderTrainer
from pyrogen.train.callbacks import MetricsCSV, TensorBoardLogger
from pyrogen.train.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    export_weights,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from pyrogen.train.distillation import DensityDistillation
from pyrogen.train.distributed import DistContext, PeerLostError, sharded_log_likelihood
from pyrogen.train.em import GradientEM
from pyrogen.train.factor_vae_trainer import FactorVAETrainer
from pyrogen.train.fast_elbo import FastPathUnavailable, VAEObjective, fast_objective
from pyrogen.train.fit import TrainingDivergedError, fit, load_stepper_state, resolve_device
from pyrogen.train.gan_trainer import adversarial_stepper, build_gan, gan_stepper, make_gan_trainer
from pyrogen.train.interrupt import TrainingInterrupted
from pyrogen.train.robust_gan import SigmoidDiscriminator, robust_mean_gan
from pyrogen.train.schedules import cosine_schedule, iwae_schedule, step_schedule
from pyrogen.train.stepper import Stepper, make_adam
from pyrogen.train.svi_adapter import SVIAdapter
from pyrogen.train.trainer import SVITrainer
from pyrogen.train.vq_vae_trainer import VQVAETrainer

__all__ = [
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
