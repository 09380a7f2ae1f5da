"""pyrogen: deep generative models for Pyro.

Each subpackage is a layer that imports only from the layers before it (docs/layers.md):
``nn -> transforms -> models -> metrics -> objectives -> infer -> cli``, with ``data``,
``validation``, ``plots`` and ``testing`` as base modules that any layer may use.
"""

from pyrogen import (
    cli,
    data,
    infer,
    metrics,
    models,
    nn,
    objectives,
    plots,
    testing,
    transforms,
    validation,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "cli",
    "data",
    "infer",
    "metrics",
    "models",
    "nn",
    "objectives",
    "plots",
    "testing",
    "transforms",
    "validation",
]
