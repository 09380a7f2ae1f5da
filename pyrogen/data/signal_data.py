r"""The ``"signals"`` dataset: fixed splits of :func:`signal_mixture`, x ``(N, T)`` with T = 128.

Each split is generated in code from its own fixed seed (no files, no network), so every call
returns the same tensors for a given torch version, and the train and test splits are
independent draws from the same distribution: a uniform mixture of AR(2) processes and noisy
sine and sawtooth waves (see :mod:`pyrogen.data.signals`), noise level 0.1. The labels ``y``
are the families, indices into :data:`~pyrogen.data.SIGNAL_KINDS`.

References:
    Time Series Analysis: Forecasting and Control, G. E. P. Box et al., 4th ed. 2008,
    Section 3.2.4 (the AR(2) process).
    WaveNet: A Generative Model for Raw Audio, A. van den Oord et al., 2016 (the 1-D
    autoregressive models these signals are meant for). https://arxiv.org/abs/1609.03499
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pyrogen.data.labelled_tensors import LabelledTensors
from pyrogen.data.signals import signal_mixture

SIGNAL_LENGTH = 128
SIGNAL_NOISE = 0.1
# One seed per split: the splits are reproducible and never share a draw.
SIGNAL_SEEDS = {"train": 1_000_001, "test": 1_000_002}


@dataclass
class SignalData(LabelledTensors):
    r"""1-D signals ``x`` (N, T) float32 with labels ``y`` (N,) int64 or ``None``.

    The 1-D counterpart of :class:`~pyrogen.data.ImageData`, with the same interface
    (``x, y = data``, ``len``, :meth:`epoch`, :meth:`to`), so training loops take either.
    Values are real (not in [0, 1]); there is no binarization.

    Attributes:
        x: float32 tensor (N, T).
        y: int64 tensor (N,) of labels, or ``None``.
        name: dataset name.
        split: split name.
        binarize: always ``None`` (kept for the shared interface).

    Example:
        >>> import torch
        >>> data = SignalData(torch.zeros(3, 5), name="toy")
        >>> len(data), data.epoch().shape
        (3, torch.Size([3, 5]))
    """

    def __post_init__(self) -> None:
        self.check_tensors(2, "(N, T)")
        if self.binarize is not None:
            raise ValueError(
                f"signals are real-valued and cannot be binarized, got binarize={self.binarize!r}"
            )

    def epoch(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The data of one epoch: ``x`` itself (nothing is resampled)."""
        return self.x

    def to(self, device: torch.device | str) -> SignalData:
        """A copy with ``x`` and ``y`` on ``device``."""
        y = None if self.y is None else self.y.to(device)
        return SignalData(self.x.to(device), y, self.name, self.split)


def load_signal_split(split: str, n: int) -> SignalData:
    r"""The ``n`` signals of ``split`` (``"train"`` or ``"test"``), length :data:`SIGNAL_LENGTH`.

    Args:
        split: a key of :data:`SIGNAL_SEEDS`.
        n: number of signals (the registry's size of the split).

    Returns:
        :class:`SignalData` named ``"signals"``; ``y`` holds each signal's family.
    """
    if split not in SIGNAL_SEEDS:
        raise ValueError(f"unknown split {split!r} of 'signals'; expected one of train, test")
    generator = torch.Generator().manual_seed(SIGNAL_SEEDS[split])
    x, kind = signal_mixture(n, SIGNAL_LENGTH, SIGNAL_NOISE, generator=generator)
    return SignalData(x.contiguous(), kind.to(torch.int64), name="signals", split=split)
