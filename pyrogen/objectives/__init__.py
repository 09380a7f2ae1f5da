"""Objectives: ELBO subclasses and gradient estimators, GAN and f-GAN losses, density
distillation's loss, EM and CAVI's closed-form updates, and gradient-variance tools.

Nothing here owns an optimizer; the steppers that minimize these objectives live in
:mod:`pyrogen.infer`.
"""

from pyrogen.objectives.arviz_export import posterior_to_arviz
from pyrogen.objectives.beta_elbo import BetaELBO, LinearCapacity, LinearWarmup
from pyrogen.objectives.cavi import NormalGammaCAVI
from pyrogen.objectives.cavi_mixture import BayesianGaussianMixtureCAVI
from pyrogen.objectives.depth import (
    coordinate_median,
    depth_directions,
    halfspace_depth,
    tukey_median,
)
from pyrogen.objectives.distillation import (
    DistillationLoss,
    DistillationPair,
    analytic_entropy,
    mc_entropy,
)
from pyrogen.objectives.f_divergences import F_DIVERGENCES, FDivergence, get_f_divergence
from pyrogen.objectives.free_bits import FreeBitsELBO
from pyrogen.objectives.gan_loss import GAN_KINDS, GANLoss
from pyrogen.objectives.gradient_variance import GradientStats, gradient_variance
from pyrogen.objectives.info_elbo import InfoVAE_ELBO
from pyrogen.objectives.iwae import IWAE_ELBO
from pyrogen.objectives.nvil import NVILBaseline
from pyrogen.objectives.penalized_elbo import PenalizedELBO
from pyrogen.objectives.score_function import ScoreFunction_ELBO
from pyrogen.objectives.stl import STL_ELBO
from pyrogen.objectives.vimco import VIMCO_ELBO

__all__ = [
    "F_DIVERGENCES",
    "GAN_KINDS",
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
]
