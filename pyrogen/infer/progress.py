"""What :func:`~pyrogen.infer.fit` shows while it trains, and its messages.

Messages (which objective path runs, each epoch's metrics, early stopping) go through the
standard :mod:`logging` module, logger ``"pyrogen"``, at level INFO. With ``progress=True``,
``fit`` also shows them on standard output meanwhile; on a terminal it adds a tqdm bar per
epoch, and elsewhere (a log file, a pipe, a batch job) it prints one line per epoch and no
bar, so logs are not flooded with carriage returns. ``progress=False`` shows nothing:
configure logging (``logging.basicConfig(level=logging.INFO)``) to receive the messages.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger("pyrogen")


class _StdoutHandler(logging.Handler):
    """Writes records to the current ``sys.stdout`` through ``tqdm.write`` (which keeps a
    live bar intact)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stdout)
        except Exception:  # pragma: no cover - logging must never break training
            self.handleError(record)


@contextmanager
def showing(progress: bool) -> Iterator[None]:
    """Shows the ``pyrogen`` logger's INFO messages on stdout meanwhile, if ``progress``."""
    if not progress:
        yield
        return
    handler = _StdoutHandler(logging.INFO)
    level = logger.level
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def bar(
    iterable: Iterable[Any], total: int | None, desc: str, progress: bool, initial: int = 0
) -> Any:
    """A tqdm bar over ``iterable`` on a terminal (``progress`` on), else ``iterable``;
    ``initial`` items were done before (a resumed epoch)."""
    isatty = getattr(sys.stdout, "isatty", None)
    if not (progress and callable(isatty) and isatty()):
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stdout, initial=initial)
