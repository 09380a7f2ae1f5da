"""MNIST and Fashion-MNIST from their gzipped IDX files: images (N, 28, 28) uint8 and labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyrogen.data.download import ensure_files
from pyrogen.data.idx import read_idx
from pyrogen.data.registry import DatasetInfo


def load_idx_split(
    info: DatasetInfo, split: str, root: Path, download: bool = True, mirror: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, H, W)`` uint8 and labels ``(N,)`` uint8 of one split, checked.

    The files are fetched if needed and verified by sha256 (see
    :func:`pyrogen.data.download.ensure_files`); the decoded arrays are checked against the
    registry's shape and number of classes.

    Raises:
        DatasetNotFoundError: files are missing and cannot be downloaded.
        ChecksumError: a file has another sha256.
        ValueError: a file decodes to an unexpected shape or label range.
    """
    image_path, label_path = ensure_files(info, split, info.files[split], root, download, mirror)
    images, labels = read_idx(image_path), read_idx(label_path)
    n = info.splits[split]
    expected = (n, *info.shape[1:])
    if images.shape != expected or images.dtype != np.uint8:
        raise ValueError(
            f"{image_path}: expected uint8 images of shape {expected}, got {images.dtype} "
            f"{images.shape}"
        )
    if labels.shape != (n,) or labels.dtype != np.uint8:
        raise ValueError(f"{label_path}: expected uint8 labels of shape ({n},), got {labels.shape}")
    if info.num_classes is not None and int(labels.max()) >= info.num_classes:
        raise ValueError(
            f"{label_path}: expected labels in 0..{info.num_classes - 1}, got max {labels.max()}"
        )
    return images, labels
