r"""A loaded image dataset: ``x`` in [0, 1], optional labels, and per-epoch binarization."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pyrogen.data.labelled_tensors import LabelledTensors

BINARIZE_MODES = (None, "dynamic", "threshold")


@dataclass
class ImageData(LabelledTensors):
    r"""Images ``x`` (N, C, H, W) float32 in [0, 1] and labels ``y`` (N,) int64 or ``None``.

    ``x, y = data`` unpacks it. With ``binarize="dynamic"`` the training data of each epoch is
    a fresh draw :math:`\tilde x \sim \mathrm{Bernoulli}(x)` (dynamic binarization), obtained from
    :meth:`epoch`; ``x`` keeps the grey levels, which are the Bernoulli means.

    Attributes:
        x: float32 tensor (N, C, H, W) in [0, 1].
        y: int64 tensor (N,) of class labels, or ``None`` for unlabelled data.
        name: dataset name.
        split: split name.
        binarize: ``None``, ``"dynamic"`` or ``"threshold"`` (already applied to ``x``).

    Example:
        >>> import torch
        >>> data = ImageData(torch.full((2, 1, 2, 2), 0.5), binarize="dynamic")
        >>> g = torch.Generator().manual_seed(0)
        >>> sample = data.epoch(g)
        >>> sample.shape, bool(((sample == 0) | (sample == 1)).all())
        (torch.Size([2, 1, 2, 2]), True)

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016, sec. 5
        (MNIST binarized by sampling each epoch). https://arxiv.org/abs/1509.00519
    """

    def __post_init__(self) -> None:
        self.check_tensors(4, "(N, C, H, W)")
        if self.binarize not in BINARIZE_MODES:
            raise ValueError(f"binarize must be one of {BINARIZE_MODES}, got {self.binarize!r}")

    def epoch(self, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""One epoch's data: :math:`\tilde x \sim \mathrm{Bernoulli}(x)` if dynamic, else ``x``.

        Args:
            generator: source of randomness for the dynamic draw (on ``x``'s device); the
                global torch generator when ``None``.

        Returns:
            Tensor of the same shape, dtype and device as ``x``.
        """
        if self.binarize == "dynamic":
            return torch.bernoulli(self.x, generator=generator)
        return self.x

    def to(self, device: torch.device | str) -> ImageData:
        """A copy with ``x`` and ``y`` on ``device``."""
        y = None if self.y is None else self.y.to(device)
        return ImageData(self.x.to(device), y, self.name, self.split, self.binarize)
