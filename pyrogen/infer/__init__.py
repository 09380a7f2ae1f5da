"""Objectives, steppers and the training loop."""

from pyrogen.infer.cavi import NormalGammaCAVI
from pyrogen.infer.cavi_mixture import BayesianGaussianMixtureCAVI
from pyrogen.infer.em import GradientEM
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam

__all__ = [
    "BayesianGaussianMixtureCAVI",
    "GradientEM",
    "NormalGammaCAVI",
    "SVITrainer",
    "Stepper",
    "make_adam",
]
