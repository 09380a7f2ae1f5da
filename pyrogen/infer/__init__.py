"""Objectives, steppers and the training loop."""

from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam

__all__ = ["SVITrainer", "Stepper", "make_adam"]
