r"""Omniglot at 28x28 as used by the IWAE paper: the MATLAB file ``chardata.mat``.

The file holds ``data`` (784, 24345) and ``testdata`` (784, 8070): one image per column, grey
levels in [0, 1], each column a 28x28 image flattened in MATLAB's column-major order. So pixel
``(r, c)`` of image ``n`` is ``data[r + 28 c, n]``, and the upright image is
``data.T.reshape(N, 28, 28).transpose(0, 2, 1)``; its row-major flattening is exactly the
vector the IWAE code feeds its model (it reshapes with ``order='F'``). The paper binarizes by
drawing :math:`\tilde x \sim \mathrm{Bernoulli}(x)` afresh each time an image is used, so the
grey levels are returned as they are and ``load(..., binarize="dynamic")`` does the rest.

No sha256 or size of the file is published. It is checked by its md5 and its git blob SHA-1
(the file is stored in git in the IWAE repository), both in :data:`pyrogen.data.DATASETS`.
The IWAE code then holds out 1345 randomly chosen training images for validation; that split
is left to the caller.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyrogen.data.download import ensure_files
from pyrogen.data.errors import ChecksumError
from pyrogen.data.registry import DatasetInfo

# split -> the variable of chardata.mat that holds it
MAT_KEYS = {"train": "data", "test": "testdata"}
SIDE = 28


def chardata_images(columns: np.ndarray, source: str = "<array>") -> np.ndarray:
    """Upright ``(N, 28, 28)`` images from ``(784, N)`` columns in MATLAB's column-major order.

    Example:
        >>> img = np.zeros((28, 28)); img[0, :] = 1.0  # the top row lit
        >>> columns = img.flatten(order="F")[:, None]  # how MATLAB stores it: (784, 1)
        >>> chardata_images(columns)[0, 0].sum(), chardata_images(columns)[0, :, 0].sum()
        (np.float64(28.0), np.float64(1.0))

    Raises:
        ValueError: ``columns`` is not a 2-D array with 784 rows.
    """
    if columns.ndim != 2 or columns.shape[0] != SIDE * SIDE:
        raise ValueError(
            f"{source}: expected one image per column, an array of shape (784, N), got shape "
            f"{columns.shape}"
        )
    # (784, N) -> (N, 784): row n is column-major, so (N, 28, 28) holds each image transposed
    return columns.T.reshape(-1, SIDE, SIDE).transpose(0, 2, 1)


def read_chardata(path: Path, split: str) -> np.ndarray:
    """The split's grey levels ``(N, 28, 28)`` float32 in [0, 1] from a ``chardata.mat`` file.

    Raises:
        ChecksumError: the file is not a readable MATLAB file or lacks the split's variable.
        ValueError: the variable has another layout, or values outside [0, 1].
    """
    try:
        from scipy.io import loadmat
    except ImportError as e:  # scipy is an optional dependency of pyrogen
        raise ImportError("reading Omniglot's chardata.mat needs scipy: pip install scipy") from e
    key = MAT_KEYS[split]
    try:
        mat = loadmat(path, variable_names=[key])
    except Exception as e:  # scipy's reader fails on bad bytes with many error types
        raise ChecksumError(f"{path}: not a readable MATLAB .mat file ({e})") from e
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ChecksumError(f"{path}: expected a variable {key!r} (split {split!r}), found {found}")
    columns = np.asarray(mat[key])
    if not np.issubdtype(columns.dtype, np.number):
        raise ValueError(f"{path}: {key!r} must hold numbers, got dtype {columns.dtype}")
    images = chardata_images(columns, f"{path}: {key!r}").astype(np.float32)
    if images.size and not (np.isfinite(images).all() and 0 <= images.min() <= images.max() <= 1):
        raise ValueError(
            f"{path}: {key!r} must hold grey levels in [0, 1], got values in "
            f"[{images.min()}, {images.max()}]"
        )
    return images


def load_omniglot(
    info: DatasetInfo, split: str, root: Path, download: bool = True, mirror: str | None = None
) -> np.ndarray:
    """Checks (downloads if needed) ``<root>/omniglot/chardata.mat`` and reads one split.

    Args:
        info: the registry entry (``DATASETS["omniglot"]``): file name, digests, sources.
        split: ``"train"`` or ``"test"``.
        root: the data root.
        download: fetch the file from ``info.urls`` (or ``mirror``) when it is missing.
        mirror: base URL or directory holding ``<mirror>/omniglot/chardata.mat``.

    Returns:
        float32 array ``(N, 28, 28)`` of grey levels in [0, 1], images upright.

    Raises:
        DatasetNotFoundError: the file is missing and cannot be downloaded; the message gives
            the path to place it at, its md5 and git blob SHA-1, and where to get it.
        ChecksumError: the file has another md5 or git blob SHA-1, or cannot be read.

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016, sec. 5.
        https://arxiv.org/abs/1509.00519
    """
    (path,) = ensure_files(info, split, info.files[split], root, download, mirror)
    return read_chardata(path, split)
