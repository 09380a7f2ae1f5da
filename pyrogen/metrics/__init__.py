"""Evaluation metrics."""

from pyrogen.metrics.disentanglement import beta_vae_score

__all__ = ["beta_vae_score"]
