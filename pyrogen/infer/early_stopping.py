"""Early stopping on the validation bound: stop when ``test_loss`` has not improved for
``patience`` epochs, keeping the best epoch's checkpoint.

The state is the history itself (the best epoch is the one of least ``test_loss``), so a
resumed run stops where the uninterrupted one would, and a run that already stopped stops
again at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

MONITOR = "test_loss"


class EarlyStopping:
    """Tracks the best ``test_loss`` of a run.

    Args:
        patience: epochs without a strictly lower ``test_loss`` before stopping (>= 1).
        history: the rows of the epochs run so far.
    """

    def __init__(self, patience: int, history: Sequence[Mapping[str, float]] = ()):
        if patience < 1:
            raise ValueError(f"expected early_stopping patience >= 1 epoch, got {patience}")
        self.patience = patience
        self.best = math.inf
        self.best_epoch = 0
        self.last_epoch = 0
        for row in history:
            self.update(row)

    def update(self, row: Mapping[str, float]) -> bool:
        """Takes an epoch's row; whether it is the best so far."""
        if MONITOR not in row:
            raise ValueError(
                f"early stopping monitors {MONITOR!r}, which the epoch's metrics lack "
                f"(they hold {sorted(row)}); pass test_data to fit"
            )
        self.last_epoch = int(row["epoch"])
        value = float(row[MONITOR])
        if value < self.best:  # NaN never improves
            self.best, self.best_epoch = value, self.last_epoch
            return True
        return False

    @property
    def should_stop(self) -> bool:
        return self.best_epoch > 0 and self.last_epoch - self.best_epoch >= self.patience

    def message(self, best_path: str | None) -> str:
        kept = f", kept in {best_path}" if best_path is not None else ""
        return (
            f"early stopping after epoch {self.last_epoch}: {MONITOR} has not improved for "
            f"{self.patience} epoch(s); best {self.best:.6g} at epoch {self.best_epoch}{kept}"
        )
