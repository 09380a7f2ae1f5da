"""Objectives, steppers and the training loop."""

from pyrogen.infer.beta_elbo import BetaELBO, LinearCapacity
from pyrogen.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pyrogen.infer.fit import TrainingDivergedError, fit, load_stepper_state, resolve_device
from pyrogen.infer.info_elbo import InfoVAE_ELBO, mmd_rbf
from pyrogen.infer.svi_adapter import SVIAdapter
from pyrogen.infer.trainer import Stepper, SVITrainer, make_adam

__all__ = [
    "BetaELBO",
    "CheckpointError",
    "InfoVAE_ELBO",
    "LinearCapacity",
    "SVIAdapter",
    "SVITrainer",
    "Stepper",
    "TrainingDivergedError",
    "fit",
    "load_checkpoint",
    "load_stepper_state",
    "make_adam",
    "mmd_rbf",
    "resolve_device",
    "save_checkpoint",
]
