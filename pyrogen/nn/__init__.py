"""Neural-network building blocks shared by the models."""

from pyrogen.nn.causal_conditioners import CausalConvConditioner, LinearShiftConditioner
from pyrogen.nn.causal_conv import CausalConv1d
from pyrogen.nn.causal_transformer import CausalSelfAttention, CausalTransformer, TransformerBlock
from pyrogen.nn.code_grid_condition import CodeGridCondition
from pyrogen.nn.conv import ConvDecoder, ConvEncoder
from pyrogen.nn.gated_pixelcnn import GatedPixelCNNBlock, gate
from pyrogen.nn.made import AutoregressiveNN, MaskedLinear, made_masks
from pyrogen.nn.masked_conv import MaskedConv2d, channel_groups
from pyrogen.nn.minibatch_discrimination import MinibatchDiscrimination
from pyrogen.nn.mlp import MLP, activation
from pyrogen.nn.quantize import Quantized, VectorQuantizer
from pyrogen.nn.reversible import (
    ResidualNetwork,
    ReversibleBlock,
    ReversibleSequence,
    RevNet,
    saved_tensor_bytes,
)

__all__ = [
    "CausalConvConditioner",
    "CodeGridCondition",
    "LinearShiftConditioner",
    "MinibatchDiscrimination",
    "ResidualNetwork",
    "ReversibleBlock",
    "ReversibleSequence",
    "RevNet",
    "saved_tensor_bytes",
    "MLP",
    "AutoregressiveNN",
    "CausalConv1d",
    "CausalSelfAttention",
    "CausalTransformer",
    "ConvDecoder",
    "ConvEncoder",
    "GatedPixelCNNBlock",
    "MaskedConv2d",
    "MaskedLinear",
    "Quantized",
    "TransformerBlock",
    "VectorQuantizer",
    "activation",
    "channel_groups",
    "gate",
    "made_masks",
]
