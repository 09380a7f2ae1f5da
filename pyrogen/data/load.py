r"""``load(name, split)``: images as :class:`ImageData`, 1-D signals as :class:`SignalData`."""

from __future__ import annotations

import os

import numpy as np
import torch

from pyrogen.data.binarized_mnist import load_binarized_mnist
from pyrogen.data.digits import load_digits_split
from pyrogen.data.download import data_root, mirror_url
from pyrogen.data.idx_datasets import load_idx_split
from pyrogen.data.image_data import BINARIZE_MODES, ImageData
from pyrogen.data.omniglot import load_omniglot
from pyrogen.data.registry import get_dataset_info
from pyrogen.data.signal_data import SignalData, load_signal_split


def load(
    name: str = "digits",
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    binarize: str | None = None,
    download: bool = True,
    mirror: str | os.PathLike[str] | None = None,
) -> ImageData | SignalData:
    r"""Loads one split of a dataset: ``x`` (N, C, H, W) float32 in [0, 1] (or (N, T)), ``y``.

    Pixel values are scaled to [0, 1] (MNIST, Fashion-MNIST: ``/255``; digits: ``/16``;
    binarized MNIST is already 0/1; Omniglot holds grey levels in [0, 1], which its paper
    binarizes by sampling: ``binarize="dynamic"``). Missing files are downloaded from the
    dataset's canonical source (or ``mirror``) into ``<root>/<name>/`` and checked by sha256
    (Omniglot's ``chardata.mat``, whose sha256 is not published, by md5 and git blob SHA-1).

    Args:
        name: one of :func:`pyrogen.data.list_datasets`: ``"digits"`` (scikit-learn's embedded
            8x8 digits, no network needed), ``"mnist"``, ``"fashion_mnist"``,
            ``"binarized_mnist"`` (fixed binarization, no labels), ``"omniglot"`` (the IWAE
            paper's 28x28 ``chardata.mat``, no labels; see :mod:`pyrogen.data.omniglot`),
            ``"signals"`` (1-D signals ``(N, 128)`` generated in code with a fixed seed per
            split; see :mod:`pyrogen.data.signal_data`).
        split: ``"train"`` or ``"test"``; ``binarized_mnist`` also has ``"valid"``.
        root: data root; default ``$PYROGEN_DATA``, else ``~/.cache/pyrogen``.
        binarize: ``None`` (grey levels; the only mode of ``"signals"``), ``"threshold"``
            (fixed: ``x > 0.5``, applied here) or ``"dynamic"`` (a fresh Bernoulli(x) draw per
            epoch from :meth:`ImageData.epoch`).
        download: fetch missing files; if false, a missing file raises at once.
        mirror: base URL or directory holding ``<mirror>/<name>/<file>``, used instead of the
            canonical sources; default ``$PYROGEN_DATA_MIRROR``.

    Returns:
        :class:`ImageData`, or :class:`SignalData` for ``"signals"``; ``x, y = load(...)``
        unpacks either (``y`` is ``None`` without labels).

    Raises:
        ValueError: unknown name, split or binarize mode (the message lists the valid ones).
        DatasetNotFoundError: files are missing and could not be downloaded; the message lists
            each destination path with its sha256.
        ChecksumError: a file on disk or downloaded has an unexpected sha256.

    Example:
        >>> from pyrogen.data import load
        >>> x, y = load("digits", "test")
        >>> x.shape, x.dtype, y.shape, float(x.max())
        (torch.Size([297, 1, 8, 8]), torch.float32, torch.Size([297]), 1.0)
        >>> load("signals", "test").x.shape
        torch.Size([1000, 128])

    References:
        Gradient-based learning applied to document recognition, Y. LeCun et al., 1998.
        Fashion-MNIST, H. Xiao, K. Rasul, R. Vollgraf, 2017, https://arxiv.org/abs/1708.07747
        The Neural Autoregressive Distribution Estimator, H. Larochelle, I. Murray, 2011.
        Importance Weighted Autoencoders, Y. Burda et al., 2016, https://arxiv.org/abs/1509.00519
        Human-level concept learning through probabilistic program induction, B. M. Lake,
        R. Salakhutdinov, J. B. Tenenbaum, 2015 (Omniglot).
    """
    info = get_dataset_info(name)
    if split not in info.splits:
        raise ValueError(
            f"unknown split {split!r} of dataset {name!r}; expected one of {', '.join(info.splits)}"
        )
    if binarize not in BINARIZE_MODES:
        raise ValueError(
            f"unknown binarize mode {binarize!r}; expected one of "
            f"{', '.join(repr(m) for m in BINARIZE_MODES)}"
        )
    if name == "signals":
        if binarize is not None:
            raise ValueError(
                f"dataset 'signals' holds real-valued signals; binarize must be None, "
                f"got {binarize!r}"
            )
        return load_signal_split(split, info.splits[split])
    labels: np.ndarray | None
    if name == "digits":
        x, labels = load_digits_split(split)
    elif name == "binarized_mnist":
        x, labels = load_binarized_mnist(split, data_root(root), download, mirror_url(mirror)), None
    elif name == "omniglot":
        x, labels = load_omniglot(info, split, data_root(root), download, mirror_url(mirror)), None
    else:
        images, labels = load_idx_split(info, split, data_root(root), download, mirror_url(mirror))
        # / 255 in float32: the same values as torchvision's ToTensor
        x = images.astype(np.float32) / np.float32(255.0)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32).reshape(-1, *info.shape))
    if binarize == "threshold":
        xt = (xt > 0.5).to(torch.float32)
    y = None if labels is None else torch.from_numpy(labels.astype(np.int64))
    return ImageData(xt, y, name=name, split=split, binarize=binarize)
