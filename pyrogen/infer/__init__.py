"""Objectives, steppers and the training loop."""

from pyrogen.infer.adversarial import AdversarialSVI, GANPair, default_optimizer
from pyrogen.infer.f_divergences import F_DIVERGENCES, FDivergence, get_f_divergence
from pyrogen.infer.gan_loss import GAN_KINDS, GANLoss
from pyrogen.infer.gan_trainer import make_gan_trainer
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam

__all__ = [
    "F_DIVERGENCES",
    "GAN_KINDS",
    "AdversarialSVI",
    "FDivergence",
    "GANLoss",
    "GANPair",
    "SVITrainer",
    "Stepper",
    "default_optimizer",
    "get_f_divergence",
    "make_adam",
    "make_gan_trainer",
]
