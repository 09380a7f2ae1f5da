"""Data root and mirror resolution, checksums, and downloads with an atomic rename.

A file is fetched into a temporary file in its destination directory, its sha256 is checked
while it streams (a file without a published sha256: its md5 and git blob SHA-1 once it is
complete), and only a verified file is renamed into place (``os.replace`` is atomic on one file
system), so an interrupted or corrupted download never leaves a file that looks valid.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from pyrogen.data.errors import ChecksumError, DatasetNotFoundError
from pyrogen.data.registry import DIGEST_NAMES, DatasetInfo, FileSpec

ROOT_ENV = "PYROGEN_DATA"
MIRROR_ENV = "PYROGEN_DATA_MIRROR"
_CHUNK = 1 << 20


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$PYROGEN_DATA``, else ``~/.cache/pyrogen``."""
    if root is None:
        root = os.environ.get(ROOT_ENV) or Path.home() / ".cache" / "pyrogen"
    return Path(root).expanduser()


def mirror_url(mirror: str | os.PathLike[str] | None = None) -> str | None:
    """The mirror base URL: ``mirror`` if given, else ``$PYROGEN_DATA_MIRROR``, else ``None``.

    A mirror holds ``<mirror>/<dataset>/<file name>`` for the files a dataset downloads. It may
    be any URL that urllib opens (``https://``, ``http://``, ``file://``) or a local directory.
    """
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or None
    if mirror is None:
        return None
    text = os.fspath(mirror)
    if "://" not in text:
        text = Path(text).expanduser().resolve().as_uri()
    return text.rstrip("/") + "/"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(path: str | os.PathLike[str], algorithms: Sequence[str]) -> dict[str, str]:
    """Hex digests of the file at ``path``, read once: ``"sha256"``, ``"md5"``, ``"git_sha1"``.

    ``"git_sha1"`` is the SHA-1 of the file as a git blob, ``sha1(b"blob <size>\\0" + bytes)``
    (what ``git hash-object`` prints), which identifies a file stored in a git repository.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as f:
        ...     _ = f.write(b"hello\\n"); f.flush()
        ...     file_digests(f.name, ["git_sha1"])["git_sha1"]
        'ce013625030ba8dba906f756967f9e9ca394464a'
    """
    digests = {}
    for algo in algorithms:
        # integrity checks, not security: md5 and SHA-1 stay usable on FIPS-restricted builds
        if algo == "git_sha1":
            header = b"blob %d\0" % os.path.getsize(path)
            digests[algo] = hashlib.sha1(header, usedforsecurity=False)
        elif algo in ("sha256", "md5"):
            digests[algo] = hashlib.new(algo, usedforsecurity=False)
        else:
            raise ValueError(f"unknown digest {algo!r}; expected 'sha256', 'md5' or 'git_sha1'")
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            for d in digests.values():
                d.update(chunk)
    return {algo: d.hexdigest() for algo, d in digests.items()}


def _size(spec: FileSpec) -> str:
    return "size not published" if spec.size is None else f"{spec.size:,} bytes"


def verify_file(path: Path, spec: FileSpec) -> None:
    """Raises :class:`ChecksumError` unless the file at ``path`` has every digest of ``spec``."""
    expected = spec.digests()
    got = file_digests(path, list(expected))
    for algo, want in expected.items():
        if got[algo] != want:
            raise ChecksumError(
                f"{path} has {DIGEST_NAMES[algo]} {got[algo]}, expected {want} "
                f"({_size(spec)}); the file is corrupt, truncated or a different version. Delete "
                f"it so that it is downloaded again, or replace it with the original file."
            )


def download_file(url: str, dest: Path, spec: FileSpec, timeout: float = 30.0) -> None:
    """Downloads ``url`` to ``dest`` if it has every digest of ``spec`` (see :class:`FileSpec`).

    Raises:
        ChecksumError: the downloaded bytes have another digest; nothing is left on disk.
        urllib.error.URLError, OSError: the URL cannot be read, or the transfer stopped before
            the announced length.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
        if announced is not None and received != int(announced):
            # a dropped connection, not a bad file: the caller may try another source
            raise OSError(f"transfer cut short: received {received:,} of {int(announced):,} bytes")
        if spec.sha256 and digest.hexdigest() != spec.sha256:
            raise ChecksumError(
                f"download of {url} has sha256 {digest.hexdigest()}, expected {spec.sha256} "
                f"({_size(spec)}); the file was rejected and not saved to {dest}"
            )
        extra = {algo: v for algo, v in spec.digests().items() if algo != "sha256"}
        # the git blob header needs the size, so these are read back from the complete file
        got = file_digests(tmp, list(extra)) if extra else {}
        for algo, want in extra.items():
            if got[algo] != want:
                raise ChecksumError(
                    f"download of {url} has {DIGEST_NAMES[algo]} {got[algo]}, expected {want} "
                    f"({_size(spec)}); the file was rejected and not saved to {dest}"
                )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def candidate_urls(info: DatasetInfo, spec: FileSpec, mirror: str | None) -> list[str]:
    """URLs to try for one file: the mirror's alone if one is set, else the canonical sources."""
    if mirror is not None:
        return [f"{mirror}{info.name}/{spec.name}"]
    return [base + spec.name for base in info.urls]


def missing_files_message(
    info: DatasetInfo,
    split: str,
    root: Path,
    missing: Sequence[FileSpec],
    reason: str,
    alternative: Sequence[FileSpec] = (),
) -> str:
    """The text of :class:`DatasetNotFoundError`: which files to place where, with sha256."""

    def listing(specs: Sequence[FileSpec]) -> list[str]:
        return [f"  {root / info.name / s.name}\n      {s.describe()}" for s in specs]

    lines = [
        f"dataset {info.name!r} (split {split!r}) needs {len(missing)} file(s) missing under the "
        f"data root {root}, and they were not downloaded: {reason}",
        "Place these files at exactly these paths:",
        *listing(missing),
    ]
    if alternative:
        lines += [
            "or place these original files there instead (they are converted on first use):",
            *listing(alternative),
        ]
    if info.urls:
        lines.append("Canonical source(s): " + ", ".join(info.urls))
    lines.append(
        f"Or pass root= (or set {ROOT_ENV}) to a directory that holds {info.name}/..., or pass "
        f"mirror= (or set {MIRROR_ENV}) to a URL or directory laid out as "
        f"<mirror>/{info.name}/<file name>."
    )
    return "\n".join(lines)


def fetch(
    info: DatasetInfo, specs: Sequence[FileSpec], root: Path, mirror: str | None
) -> tuple[list[FileSpec], list[str]]:
    """Downloads each of ``specs`` into ``root/info.name/``.

    Each file is tried at each candidate URL in turn until one delivers the expected bytes.

    Returns:
        The files that no URL could deliver, and the reasons (one line per URL tried).

    Raises:
        ChecksumError: some URL was read but none delivered bytes with the expected sha256.
    """
    failed: list[FileSpec] = []
    errors: list[str] = []
    folder = root / info.name
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        # fail here, not once per URL where it would read like a network error
        raise PermissionError(
            f"cannot write downloads to {folder}; pass root= or set {ROOT_ENV} to a writable "
            f"directory"
        )
    # Sources that could not be reached at all are not tried again for the next files, so an
    # offline machine fails after one timeout per source, not one per source and file.
    unreachable: set[str] = set()
    for spec in specs:
        dest = folder / spec.name
        bad: list[str] = []
        for url in candidate_urls(info, spec, mirror):
            source = url[: -len(spec.name)]
            if source in unreachable:
                continue
            try:
                download_file(url, dest, spec)
                break
            except ChecksumError as e:
                bad.append(str(e))
            except urllib.error.HTTPError as e:
                e.close()
                errors.append(f"{url}: HTTP {e.code} {e.reason}")
            except urllib.error.URLError as e:
                if not url.startswith("file:"):  # a missing local file says nothing of the rest
                    unreachable.add(source)
                errors.append(f"{url}: {e.reason}")
            except (OSError, ValueError, http.client.HTTPException) as e:
                # ValueError: urllib rejects a malformed URL before any I/O; HTTPException: the
                # connection broke mid-transfer (IncompleteRead).
                errors.append(f"{url}: {e}")
        else:
            if bad:
                raise ChecksumError("; ".join(bad))
            failed.append(spec)
    return failed, errors


def ensure_files(
    info: DatasetInfo,
    split: str,
    specs: Sequence[FileSpec],
    root: Path,
    download: bool,
    mirror: str | None,
    shown: Sequence[FileSpec] | None = None,
    alternative: Sequence[FileSpec] = (),
) -> list[Path]:
    """Paths of ``specs`` under ``root/info.name/``, verified, downloading missing ones.

    Files already on disk are checked by sha256 and never deleted: a mismatch raises
    :class:`ChecksumError` naming the file.

    Args:
        shown: the files the error message asks for, when they differ from ``specs`` (a
            dataset converted from downloaded originals asks for the converted file).
        alternative: files that may be placed instead of ``shown``.

    Raises:
        DatasetNotFoundError: some files are missing and ``download`` is false or no source
            could be reached.
    """
    paths = [root / info.name / s.name for s in specs]
    missing = [s for s, p in zip(specs, paths) if not p.is_file()]
    for s, p in zip(specs, paths):
        if s not in missing:
            verify_file(p, s)
    if not missing:
        return paths
    if not download:
        reason = "download=False"
        failed = missing
    else:
        failed, errors = fetch(info, missing, root, mirror)
        if not failed:
            return paths
        reason = "no source could be reached:\n    " + "\n    ".join(errors)
    raise DatasetNotFoundError(
        missing_files_message(
            info, split, root, failed if shown is None else shown, reason, alternative
        )
    )
