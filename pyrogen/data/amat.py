"""Parser for the ``.amat`` text files of Larochelle's fixed binarized MNIST.

Each line is one image: 784 values ``0`` or ``1`` (28x28, row-major) separated by single spaces
and ended by ``\\n``, so a file of N images has exactly N * 1568 bytes.
"""

from __future__ import annotations

import hashlib

import numpy as np

_ZERO, _SPACE, _NEWLINE = ord("0"), ord(" "), ord("\n")


def parse_amat(raw: bytes, width: int = 784, source: str = "<bytes>") -> np.ndarray:
    """Decodes ``.amat`` bytes into a ``(N, width)`` uint8 array of 0/1 values.

    Only the published layout is accepted (the files are checked by sha256 before parsing).

    Example:
        >>> parse_amat(b"0 1 1\\n1 0 0\\n", width=3)
        array([[0, 1, 1],
               [1, 0, 0]], dtype=uint8)

    Raises:
        ValueError: the bytes are not rows of ``width`` binary digits in that layout.
    """
    row = 2 * width
    if len(raw) == 0 or len(raw) % row:
        raise ValueError(
            f"{source}: expected rows of {width} space-separated binary digits "
            f"({row} bytes per row), got {len(raw):,} bytes, not a multiple of {row}"
        )
    chars = np.frombuffer(raw, dtype=np.uint8).reshape(-1, row)
    seps = chars[:, 1::2]
    if not ((seps[:, :-1] == _SPACE).all() and (seps[:, -1] == _NEWLINE).all()):
        raise ValueError(
            f"{source}: expected single spaces between values and one '\\n' per row of {width}"
        )
    values = chars[:, 0::2] - _ZERO
    if (values > 1).any():
        raise ValueError(f"{source}: expected only the digits 0 and 1 as values")
    return values.astype(np.uint8)


def array_sha256(a: np.ndarray) -> str:
    """Hex sha256 of an array's bytes as uint8 in C order (independent of how it was stored)."""
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got dtype {a.dtype}")
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
