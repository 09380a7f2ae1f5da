"""Small instances of every autoregressive family, shared by the autoregressive tests."""

from __future__ import annotations

import itertools

import torch

from pyrogen.models import (
    MADE,
    AutoregressiveModel,
    FiniteMemoryMLP,
    GatedPixelCNN,
    LinearGaussianAR,
    PixelCNN,
    PixelCNNpp,
    RNNDensity,
    TransformerDensity,
    WaveNet,
)

BINARY = {
    # Every family as a density over 3x3 binary images (9 binary values for 1-D families).
    "made": lambda: MADE((1, 3, 3), hidden=(32, 32)),
    "made_ensemble": lambda: MADE((1, 3, 3), hidden=(32, 32), num_masks=3, order="random"),
    "pixelcnn": lambda: PixelCNN((1, 3, 3), channels=8, num_layers=2, first_kernel=3),
    "gated_pixelcnn": lambda: GatedPixelCNN((1, 3, 3), channels=8, num_layers=2),
    "gated_pixelcnn_conditional": lambda: GatedPixelCNN(
        (1, 3, 3), channels=8, num_layers=2, num_classes=3
    ),
    "pixelcnnpp": lambda: PixelCNNpp(
        (1, 3, 3), num_mixtures=2, num_bins=2, channels=8, num_layers=2
    ),
    "finite_memory": lambda: FiniteMemoryMLP((1, 3, 3), memory=3, hidden=(16,)),
    "rnn": lambda: RNNDensity((1, 3, 3), hidden=16),
    "transformer": lambda: TransformerDensity((1, 3, 3), d_model=16, num_heads=2, num_layers=2),
    "wavenet": lambda: WaveNet(
        9, channels=8, num_layers=3, likelihood="categorical", num_classes=2
    ),
    # A VQ-VAE code prior over 3x3 grids of 2 codes: one-hot input, optionally conditioned on
    # a 2x2 grid of 3 codes.
    "pixelcnn_codes": lambda: PixelCNN.for_codes(2, (3, 3), channels=8, num_layers=2),
    "pixelcnn_codes_conditional": lambda: PixelCNN.for_codes(
        2, (3, 3), channels=8, num_layers=2, cond_codes=3
    ),
}


CONTINUOUS = {
    # Gaussian-likelihood instances over sequences of length 12.
    "wavenet_gaussian": lambda: WaveNet(12, channels=8, num_layers=4, likelihood="gaussian"),
    "rnn_gaussian": lambda: RNNDensity((12,), hidden=8, cell="gru", likelihood="gaussian"),
    "transformer_gaussian": lambda: TransformerDensity(
        (12,), d_model=16, num_heads=2, num_layers=1, likelihood="gaussian"
    ),
    "finite_memory_gaussian": lambda: FiniteMemoryMLP((12,), memory=3, likelihood="gaussian"),
    "made_gaussian": lambda: MADE((12,), hidden=(32,), likelihood="gaussian"),
    "ar3": lambda: _ar3(),
}


def _ar3() -> LinearGaussianAR:
    m = LinearGaussianAR(12, order=3)
    with torch.no_grad():
        m.coef.copy_(torch.tensor([0.5, -0.2, 0.1]))
    return m


def make(name: str) -> AutoregressiveModel:
    """A fresh, seeded instance of the named family."""
    torch.manual_seed(0)
    return {**BINARY, **CONTINUOUS}[name]()


def conditions(m: AutoregressiveModel, n: int) -> list[torch.Tensor | None]:
    """The conditions to test ``m`` under, each for a batch of ``n``: every class label of a
    class-conditional model, three code grids of a model conditioned on a code grid, or
    ``[None]`` for an unconditional model."""
    if m.num_classes:
        return [torch.full((n,), c) for c in range(m.num_classes)]
    condition = getattr(m, "condition", None)
    if condition is not None:
        grids = torch.tensor([[[0, 1], [2, 0]], [[2, 2], [1, 0]], [[1, 0], [0, 2]]])
        return [g.expand(n, 2, 2) % condition.num_codes for g in grids]
    return [None]


def mixed_condition(m: AutoregressiveModel, n: int) -> torch.Tensor | None:
    """A condition that differs across the ``n`` examples (None for an unconditional model)."""
    if m.num_classes:
        return torch.arange(n) % m.num_classes
    condition = getattr(m, "condition", None)
    if condition is not None:
        return torch.arange(4 * n).view(n, 2, 2) % condition.num_codes
    return None


def all_binary(shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Every binary tensor of the given shape, stacked: ``(2**numel, *shape)``."""
    n = int(torch.Size(shape).numel())
    grid = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=dtype)
    return grid.view(-1, *shape)
