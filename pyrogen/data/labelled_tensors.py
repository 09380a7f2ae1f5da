"""The shared shape of the datasets ``load`` returns: examples ``x`` and optional labels ``y``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class LabelledTensors:
    """``x`` float32 (N, ...) with labels ``y`` int64 (N,) or ``None``; ``x, y = data``.

    Subclasses fix the layout of an example (:class:`~pyrogen.data.ImageData`: (C, H, W);
    :class:`~pyrogen.data.SignalData`: (T,)) and check it with :meth:`check_tensors`.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    name: str = ""
    split: str = ""
    binarize: str | None = None

    def check_tensors(self, dims: int, layout: str) -> None:
        """Fails fast unless ``x`` is a float32 tensor of ``dims`` dimensions (``layout``
        names them in the message) and ``y`` is ``None`` or int64 of shape (N,)."""
        if not isinstance(self.x, torch.Tensor) or self.x.dim() != dims:
            shape = tuple(self.x.shape) if isinstance(self.x, torch.Tensor) else type(self.x)
            raise ValueError(f"x must be a tensor of shape {layout}, got {shape}")
        if self.x.dtype != torch.float32:
            raise ValueError(f"x must be float32, got {self.x.dtype}")
        if self.y is not None and (self.y.dtype != torch.int64 or self.y.shape != self.x.shape[:1]):
            raise ValueError(
                f"y must be an int64 tensor of shape ({self.x.shape[0]},), got "
                f"{self.y.dtype} of shape {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    def __iter__(self) -> Iterator[torch.Tensor | None]:
        yield self.x
        yield self.y
