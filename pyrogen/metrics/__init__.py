"""Metrics that papers report: likelihoods, latent usage, sample quality."""

from pyrogen.metrics.active_units import ActiveUnits, active_units, posterior_means
from pyrogen.metrics.c2st import c2st
from pyrogen.metrics.disentanglement import beta_vae_score
from pyrogen.metrics.elbo_surgery import ElboSurgery, elbo_surgery
from pyrogen.metrics.feature_classifier import (
    FeatureClassifier,
    load_or_train_classifier,
    train_classifier,
)
from pyrogen.metrics.fid import fid, frechet_distance
from pyrogen.metrics.inception_score import inception_score
from pyrogen.metrics.latent_report import latent_report
from pyrogen.metrics.likelihood import bits_per_dim, log_likelihood
from pyrogen.metrics.mmd import median_bandwidth, mmd
from pyrogen.metrics.mode_coverage import mode_coverage
from pyrogen.metrics.scaling import PowerLawFit, fit_power_law
from pyrogen.metrics.spectral import autocorrelation, power_spectrum

__all__ = [
    "PowerLawFit",
    "fit_power_law",
    "autocorrelation",
    "power_spectrum",
    "ActiveUnits",
    "ElboSurgery",
    "active_units",
    "bits_per_dim",
    "elbo_surgery",
    "latent_report",
    "log_likelihood",
    "posterior_means",
    "FeatureClassifier",
    "c2st",
    "fid",
    "frechet_distance",
    "inception_score",
    "load_or_train_classifier",
    "median_bandwidth",
    "mmd",
    "mode_coverage",
    "train_classifier",
    "beta_vae_score",
]
