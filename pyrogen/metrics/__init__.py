"""Metrics that papers report: likelihoods, latent usage, sample quality."""

from pyrogen.metrics.likelihood import bits_per_dim, log_likelihood

__all__ = ["bits_per_dim", "log_likelihood"]
