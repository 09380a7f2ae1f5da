"""Multi-layer perceptrons, the default encoder and decoder trunks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


def activation(name: str) -> nn.Module:
    """Returns a fresh activation module by name (``tanh``, ``relu``, ``elu``, ...)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}"
        ) from None


class MLP(nn.Sequential):
    """Fully connected network ``in_dim -> hidden[0] -> ... -> out_dim``.

    The activation follows every hidden layer, never the output layer.

    Args:
        in_dim: size of the input's last dimension.
        hidden: sizes of the hidden layers (may be empty: a single affine map).
        out_dim: size of the output's last dimension.
        act: activation name, see :func:`activation`.

    Shapes:
        input ``(..., in_dim)`` -> output ``(..., out_dim)``.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, act: str = "relu"):
        layers: list[nn.Module] = []
        sizes = [in_dim, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), activation(act)]
        layers.append(nn.Linear(sizes[-1], out_dim))
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)
