"""Neural-network building blocks shared by the models."""

from pyrogen.nn.conv import ConvDecoder, ConvEncoder
from pyrogen.nn.made import AutoregressiveNN, MaskedLinear
from pyrogen.nn.mlp import MLP, activation

__all__ = [
    "MLP",
    "AutoregressiveNN",
    "ConvDecoder",
    "ConvEncoder",
    "MaskedLinear",
    "activation",
]
