"""Evaluation metrics: sample quality (MMD, C2ST, FID, inception score, mode coverage)."""

from pyrogen.metrics.c2st import c2st
from pyrogen.metrics.feature_classifier import (
    FeatureClassifier,
    load_or_train_classifier,
    train_classifier,
)
from pyrogen.metrics.fid import fid, frechet_distance
from pyrogen.metrics.inception_score import inception_score
from pyrogen.metrics.mmd import median_bandwidth, mmd
from pyrogen.metrics.mode_coverage import (
    grid_centers,
    mode_coverage,
    ring_centers,
    sample_mixture,
)

__all__ = [
    "FeatureClassifier",
    "c2st",
    "fid",
    "frechet_distance",
    "grid_centers",
    "inception_score",
    "load_or_train_classifier",
    "median_bandwidth",
    "mmd",
    "mode_coverage",
    "ring_centers",
    "sample_mixture",
    "train_classifier",
]
