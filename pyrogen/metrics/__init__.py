"""Metrics that papers report: likelihoods, latent usage, sample quality."""

from pyrogen.metrics.disentanglement import beta_vae_score
from pyrogen.metrics.likelihood import bits_per_dim, log_likelihood

__all__ = [
    "beta_vae_score",
    "bits_per_dim",
    "log_likelihood",
]
