"""Metrics that papers report: likelihoods, latent usage, sample quality."""

from pyrogen.metrics.active_units import ActiveUnits, active_units, posterior_means
from pyrogen.metrics.elbo_surgery import ElboSurgery, elbo_surgery
from pyrogen.metrics.latent_report import latent_report
from pyrogen.metrics.likelihood import bits_per_dim, log_likelihood

__all__ = [
    "ActiveUnits",
    "ElboSurgery",
    "active_units",
    "bits_per_dim",
    "elbo_surgery",
    "latent_report",
    "log_likelihood",
    "posterior_means",
]
