"""Objectives, steppers and the training loop."""

from pyrogen.infer.gradient_variance import GradientStats, gradient_variance
from pyrogen.infer.iwae import IWAE_ELBO
from pyrogen.infer.nvil import NVILBaseline
from pyrogen.infer.score_function import ScoreFunction_ELBO
from pyrogen.infer.stl import STL_ELBO
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam
from pyrogen.infer.vimco import VIMCO_ELBO

__all__ = [
    "IWAE_ELBO",
    "STL_ELBO",
    "VIMCO_ELBO",
    "GradientStats",
    "NVILBaseline",
    "SVITrainer",
    "ScoreFunction_ELBO",
    "Stepper",
    "gradient_variance",
    "make_adam",
]
