"""Objectives, steppers and the training loop."""

from pyrogen.infer.adversarial import AdversarialSVI, GANPair, default_optimizer
from pyrogen.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pyrogen.infer.f_divergences import F_DIVERGENCES, FDivergence, get_f_divergence
from pyrogen.infer.fit import TrainingDivergedError, fit, load_stepper_state, resolve_device
from pyrogen.infer.gan_loss import GAN_KINDS, GANLoss
from pyrogen.infer.gan_trainer import build_gan, gan_stepper, make_gan_trainer
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam

__all__ = [
    "F_DIVERGENCES",
    "GAN_KINDS",
    "AdversarialSVI",
    "CheckpointError",
    "FDivergence",
    "GANLoss",
    "GANPair",
    "SVIAdapter",
    "SVITrainer",
    "Stepper",
    "TrainingDivergedError",
    "build_gan",
    "default_optimizer",
    "fit",
    "gan_stepper",
    "get_f_divergence",
    "load_checkpoint",
    "load_stepper_state",
    "make_adam",
    "make_gan_trainer",
    "resolve_device",
    "save_checkpoint",
]
