r"""Fixed binarized MNIST of Larochelle & Murray (2011): download, conversion to ``.npz``, loading.

The canonical source is three ``.amat`` text files (train 50000, valid 10000, test 10000 rows
of 784 binary pixels). They are downloaded, checked against their published sha256, parsed, and
stored as one ``binarized_mnist.npz`` with uint8 arrays ``train``, ``valid``, ``test`` of shape
``(N, 784)``. Because the bytes of an ``.npz`` depend on zip timestamps and the zlib build, the
stored file is checked by the sha256 of each split's array bytes (uint8, C order), recorded in
:data:`pyrogen.data.DATASETS`; these sums were computed from arrays that reproduce the three
published ``.amat`` sha256s byte for byte.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from pyrogen.data.amat import array_sha256, parse_amat
from pyrogen.data.download import ensure_files
from pyrogen.data.errors import ChecksumError
from pyrogen.data.registry import DATASETS

INFO = DATASETS["binarized_mnist"]
NPZ = INFO.files["train"][0]


def convert_amat(amat_paths: dict[str, Path], dest: Path) -> None:
    """Parses the three ``.amat`` files (split -> path), checks them, writes ``dest`` atomically.

    Raises:
        ChecksumError: a parsed split differs from the fixed binarization.
    """
    arrays = {}
    for split, path in amat_paths.items():
        a = parse_amat(path.read_bytes(), width=784, source=str(path))
        _check_array(a, split, str(path))
        arrays[split] = a
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        # an .npz written by hand: deflate level 1 is about 5x faster than savez_compressed's
        # default for these 0/1 bytes, at 4.8 MB instead of 3.0 MB
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, True, 1) as z:
            for split, a in arrays.items():
                with z.open(f"{split}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, a, allow_pickle=False)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _check_array(a: np.ndarray, split: str, source: str) -> None:
    expected_shape = (INFO.splits[split], 784)
    if a.dtype != np.uint8 or a.shape != expected_shape:
        raise ChecksumError(
            f"{source}: split {split!r} must be uint8 of shape {expected_shape}, "
            f"got {a.dtype} of shape {a.shape}"
        )
    got = array_sha256(a)
    if got != INFO.content_sha256[split]:
        raise ChecksumError(
            f"{source}: split {split!r} is not the fixed binarization: its array bytes have "
            f"sha256 {got}, expected {INFO.content_sha256[split]}. Delete the file so that it "
            f"is rebuilt from the original .amat files, or replace it with the original "
            f"{NPZ.name} (sha256 {NPZ.sha256})."
        )


def load_binarized_mnist(
    split: str, root: Path, download: bool = True, mirror: str | None = None
) -> np.ndarray:
    """The ``(N, 784)`` uint8 array of ``split``, building the ``.npz`` first if needed.

    Raises:
        DatasetNotFoundError: neither the ``.npz`` nor the ``.amat`` files are present and they
            cannot be downloaded.
        ChecksumError: a file or split differs from the fixed binarization.
    """
    folder = root / INFO.name
    npz = folder / NPZ.name
    if not npz.is_file():
        placed = {s.name for s in INFO.downloads if (folder / s.name).is_file()}
        paths = ensure_files(
            INFO,
            split,
            INFO.downloads,
            root,
            download,
            mirror,
            shown=[NPZ],
            alternative=INFO.downloads,
        )
        convert_amat({p.stem.rsplit("_", 1)[1]: p for p in paths}, npz)
        for p in paths:
            # keep the originals a user placed by hand; drop the ~110 MB we downloaded
            if p.name not in placed:
                p.unlink()
    try:
        # np.load is given an open file so that a corrupt archive does not leak the handle
        with open(npz, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if k == split}
            names = list(f.files)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
        # zlib.error: a damaged deflate stream, found before the member's CRC is checked
        raise ChecksumError(
            f"{npz}: not a readable .npz file ({e}); it is damaged or truncated. Delete it so "
            f"that it is rebuilt from the original .amat files, or replace it with the "
            f"original {NPZ.name} (sha256 {NPZ.sha256})"
        ) from e
    if split not in arrays:
        raise ChecksumError(f"{npz}: expected an array named {split!r}, found {names}")
    a = arrays[split]
    _check_array(a, split, str(npz))
    return a
