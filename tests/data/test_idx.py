"""IDX reader: real files decode to the documented shapes; corrupt files fail with clear errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from pyrogen.data import read_idx
from pyrogen.data.idx import parse_idx


def _idx(code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    header = bytes([0, 0, code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    return header + data


def test_real_label_file_decodes_like_the_documented_reader(shared_data):
    path = shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    y = read_idx(path)
    raw = gzip.decompress(path.read_bytes())
    # the README's reference decoding: 8-byte header, then one byte per label
    assert y.shape == (10000,) and y.dtype == np.uint8
    np.testing.assert_array_equal(y, np.frombuffer(raw, dtype=np.uint8, offset=8))
    assert y.flags.writeable


def test_uncompressed_and_multibyte_big_endian(tmp_path):
    values = np.array([[1, -2], [300, 40000]], dtype=">i4")
    path = tmp_path / "a.idx"
    path.write_bytes(_idx(0x0C, (2, 2), values.tobytes()))
    out = read_idx(path)
    np.testing.assert_array_equal(out, [[1, -2], [300, 40000]])
    assert out.dtype == np.int32


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00", "expected a 4-byte header"),
        (b"\x01\x00\x08\x01" + bytes(8), "expected magic bytes 0x00 0x00, got 0x01 0x00"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "unknown IDX type code 0x07"),
        (bytes([0, 0, 0x08, 0]), "declares 0 dimensions"),
        (bytes([0, 0, 0x08, 3, 0, 0, 0, 1]), "truncated IDX header, expected 16 bytes"),
        (_idx(0x08, (2, 3), bytes(5)), r"shape \(2, 3\).*6 data bytes\), found 5"),
        (_idx(0x08, (2, 3), bytes(7)), r"6 data bytes\), found 7"),
    ],
)
def test_corrupt_idx_is_rejected_with_what_was_expected(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_idx(raw, "f.idx")


def test_truncated_gzip_names_the_file(shared_data, tmp_path):
    raw = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=f"{path}: corrupt or truncated gzip"):
        read_idx(path)
