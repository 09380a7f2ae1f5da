"""Files that are either the old version or the new one, never half of each.

:func:`atomic_write` writes to a temporary file in the destination's directory, forces it to
disk, renames it over the destination (``os.replace``: atomic on POSIX and Windows) and
forces the directory entry to disk, so a crash, ``SIGKILL`` or Ctrl-C at any moment leaves
the previous file intact. A failed write (a full disk, a file-size limit, an I/O error) is
raised as an ``OSError`` that keeps the system's error number and says that the destination
was left as it was. Temporary files of a writer that was killed are named so that
:func:`remove_stale_temporaries` finds them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

SUFFIX = ".tmp"


class _FullWrites:
    """A binary file object over a file descriptor whose ``write`` writes every byte or
    raises the system's ``OSError`` (``ENOSPC``, ``EFBIG``, ``EIO``, ...): buffered writers
    and torch's archive writer may report a short write with a message of their own."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            n = os.write(self.fd, view[done:])
            if n == 0:  # no error and no progress: the device takes nothing more
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done += n
        return done

    def flush(self) -> None:
        """Nothing is buffered."""


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Calls ``write(f)`` on a temporary file, then renames it to ``path`` atomically.

    Args:
        path: the destination; its directory is created if needed.
        write: writes the whole content to the binary file object it is given.

    Raises:
        OSError: the content could not be written or renamed (``errno`` as the system gave
            it); ``path`` is left as it was and the temporary file is removed.
        Exception: whatever ``write`` raises, with the same guarantees.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=SUFFIX, dir=path.parent)
    try:
        try:
            write(cast(BinaryIO, _FullWrites(fd)))
            os.fsync(fd)
        finally:
            os.close(fd)
        apply_default_permissions(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        cause = _system_error(e) if isinstance(e, Exception) else None
        if cause is None:  # not a failed write (e.g. Ctrl-C): as it came
            raise
        reason = cause.strerror or str(cause)
        code = errno.errorcode.get(cause.errno, "") if cause.errno is not None else ""
        raise OSError(
            cause.errno,
            f"could not write {path}: {reason}{f' ({code})' if code else ''}; "
            f"{path} was left as it was",
        ) from e
    _sync_directory(path.parent)


def _system_error(error: BaseException) -> OSError | None:
    """The ``OSError`` behind ``error``: itself, or the one it was raised from or while
    handling (torch's archive writer, closing after a failed write, raises a
    ``RuntimeError`` of its own over it)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _sync_directory(folder: Path) -> None:
    """Forces the rename to disk (a power cut could otherwise undo it); not possible on
    every platform, where the rename is still atomic."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def apply_default_permissions(path: str | os.PathLike[str]) -> None:
    """mkstemp creates files readable by the owner only; give the file the permissions a
    plain ``open`` would (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Removes the temporary files that a killed :func:`atomic_write` of ``path`` left
    behind; returns them. Call it only while no other process writes ``path``."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = sorted(path.parent.glob(f".{path.name}.*{SUFFIX}"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
