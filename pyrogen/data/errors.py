"""Errors raised by :mod:`pyrogen.data` when a dataset file is missing or not the expected one."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk and could not be downloaded.

    The message lists the full destination path and sha256 of every missing file, so the
    files can be copied there by hand on a machine without network access.
    """


class ChecksumError(ValueError):
    """A dataset file (or the arrays converted from it) does not have the expected sha256."""
