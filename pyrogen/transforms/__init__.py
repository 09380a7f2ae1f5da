"""Invertible transforms (normalizing-flow layers) with exact inverses and log-determinants."""

from pyrogen.transforms.actnorm import ActNorm
from pyrogen.transforms.autoregressive import (
    AffineAutoregressive,
    ConditionalAffineAutoregressive,
    ConditionedAffineAutoregressive,
)
from pyrogen.transforms.base import FlowTransform
from pyrogen.transforms.conv1x1 import InvertibleConv1x1
from pyrogen.transforms.conv_coupling import ConvAffineCoupling
from pyrogen.transforms.coupling import AffineCoupling
from pyrogen.transforms.irevnet import IRevNet, IRevNetBlock
from pyrogen.transforms.permutation import Permutation
from pyrogen.transforms.planar import ConditionalPlanar, ConditionedPlanar, Planar
from pyrogen.transforms.radial import ConditionalRadial, ConditionedRadial, Radial
from pyrogen.transforms.squeeze import Squeeze

__all__ = [
    "ConvAffineCoupling",
    "Squeeze",
    "IRevNet",
    "IRevNetBlock",
    "ActNorm",
    "AffineAutoregressive",
    "AffineCoupling",
    "ConditionalAffineAutoregressive",
    "ConditionalPlanar",
    "ConditionalRadial",
    "ConditionedAffineAutoregressive",
    "ConditionedPlanar",
    "ConditionedRadial",
    "FlowTransform",
    "InvertibleConv1x1",
    "Permutation",
    "Planar",
    "Radial",
]
