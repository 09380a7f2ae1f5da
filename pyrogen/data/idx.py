"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or not, with format checks.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimension sizes, then the values in row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

# IDX type codes -> big-endian numpy dtypes (LeCun's format description).
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decodes uncompressed IDX bytes into an array of the stored dtype and shape.

    Args:
        raw: the file's bytes after decompression.
        source: a name for error messages (the file path).

    Raises:
        ValueError: the magic number, type code, dimensions or data length are not those of an
            IDX file; the message says what was expected and what was found.
    """
    if len(raw) < 4:
        raise ValueError(f"{source}: not an IDX file, expected a 4-byte header, got {len(raw)} B")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{source}: not an IDX file, expected magic bytes 0x00 0x00, got "
            f"0x{raw[0]:02x} 0x{raw[1]:02x}"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise ValueError(f"{source}: unknown IDX type code 0x{code:02x}, expected one of {known}")
    if ndim == 0:
        raise ValueError(f"{source}: IDX header declares 0 dimensions, expected at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{source}: truncated IDX header, expected {header} bytes for {ndim} dimensions, "
            f"got {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        raise ValueError(
            f"{source}: corrupt IDX file, header declares shape {shape} of {dtype.name} "
            f"({expected:,} data bytes), found {got:,} data bytes"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads an IDX file (gzipped when it starts with the gzip magic ``1f 8b``).

    Example:
        >>> import gzip, tempfile, os
        >>> raw = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
        >>> path = os.path.join(tempfile.mkdtemp(), "a-idx2-ubyte.gz")
        >>> with gzip.open(path, "wb") as f:
        ...     _ = f.write(raw)
        >>> read_idx(path)
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)

    Raises:
        ValueError: the file is truncated, not gzip despite the magic, or not valid IDX.

    References:
        The MNIST database of handwritten digits, Y. LeCun, C. Cortes, C. J. C. Burges, "File
        formats", http://yann.lecun.com/exdb/mnist/
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from e
    return parse_idx(raw, str(path))
