"""scikit-learn's embedded 8x8 digits with a fixed train/test split (no network needed)."""

from __future__ import annotations

import numpy as np

NUM_TRAIN = 1500
SPLIT_SEED = 0


def digits_split_indices() -> dict[str, np.ndarray]:
    """Row indices into ``sklearn.datasets.load_digits()`` of each split.

    The split is ``np.random.RandomState(0).permutation(1797)``: its first 1500 entries are
    ``train`` and the remaining 297 are ``test``. The legacy ``RandomState`` stream is frozen by
    NumPy's compatibility policy, so the split is the same on every NumPy version.
    """
    perm = np.random.RandomState(SPLIT_SEED).permutation(1797)
    return {"train": perm[:NUM_TRAIN], "test": perm[NUM_TRAIN:]}


def load_digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 8, 8)`` float32 in [0, 1] (pixel values 0..16 divided by 16) and labels.

    References:
        Optical Recognition of Handwritten Digits, E. Alpaydin, C. Kaynak, UCI Machine Learning
        Repository, 1998 (scikit-learn ships its 1797-image test set as ``load_digits``).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rows = digits_split_indices()[split]
    x = (bunch.images[rows] / 16.0).astype(np.float32)
    return x, bunch.target[rows].astype(np.int64)
