"""Objectives, steppers and the training loop."""

from pyrogen.infer.beta_elbo import BetaELBO, LinearCapacity
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam

__all__ = ["BetaELBO", "LinearCapacity", "SVITrainer", "Stepper", "make_adam"]
