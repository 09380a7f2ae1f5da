"""Objectives, steppers and the training loop."""

from pyrogen.infer.cavi import NormalGammaCAVI
from pyrogen.infer.cavi_mixture import BayesianGaussianMixtureCAVI
from pyrogen.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pyrogen.infer.em import GradientEM
from pyrogen.infer.fit import TrainingDivergedError, fit, load_stepper_state, resolve_device
from pyrogen.infer.gradient_variance import GradientStats, gradient_variance
from pyrogen.infer.iwae import IWAE_ELBO
from pyrogen.infer.nvil import NVILBaseline
from pyrogen.infer.score_function import ScoreFunction_ELBO
from pyrogen.infer.stl import STL_ELBO
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam
from pyrogen.infer.vimco import VIMCO_ELBO

__all__ = [
    "IWAE_ELBO",
    "STL_ELBO",
    "VIMCO_ELBO",
    "CheckpointError",
    "GradientStats",
    "NVILBaseline",
    "BayesianGaussianMixtureCAVI",
    "GradientEM",
    "NormalGammaCAVI",
    "SVIAdapter",
    "SVITrainer",
    "ScoreFunction_ELBO",
    "Stepper",
    "TrainingDivergedError",
    "fit",
    "gradient_variance",
    "load_checkpoint",
    "load_stepper_state",
    "make_adam",
    "resolve_device",
    "save_checkpoint",
]
