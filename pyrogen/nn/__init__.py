"""Neural-network building blocks shared by the models."""

from pyrogen.nn.conv import ConvDecoder, ConvEncoder
from pyrogen.nn.mlp import MLP, activation
from pyrogen.nn.quantize import Quantized, VectorQuantizer

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "Quantized", "VectorQuantizer", "activation"]
