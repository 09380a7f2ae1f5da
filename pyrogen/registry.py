"""Name registries read by the command line: models and objectives.

Built-in families register themselves here; a user registers a model with the same
decorator, and ``pyrogen train NAME --import my_module`` (or ``pyrogen list``) then treats it
like a built-in one::

    from pyrogen.registry import register_model

    @register_model("my_vae", binarize="dynamic", description="my two-layer VAE")
    def build(x_shape, z_dim=16, hidden=(128,), **unused):
        return MyVAE(x_shape, z_dim, hidden)

A conditional model whose ``model(x, y)`` and ``guide(x, y)`` take the class labels ``y``
(int64, shape (N,)) is registered with ``labels=True``: its ``build`` also receives
``num_classes``, the command line trains it on the dataset's ``(x, y)`` and refuses a dataset
without labels, ``pyrogen eval`` reports log p(x | y), and ``pyrogen sample`` draws per class
when its ``sample`` takes ``y``::

    @register_model("my_cvae", labels=True)
    def build_cvae(x_shape, num_classes, z_dim=16, **unused):
        return MyCVAE(x_shape, num_classes, z_dim)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyro.infer import ELBO
from torch import nn

from pyrogen.infer.trainer import Stepper

ModelFactory = Callable[..., nn.Module]
StepperFactory = Callable[[nn.Module, dict[str, Any]], Stepper]
LossFactory = Callable[[dict[str, Any]], ELBO]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model family.

    Attributes:
        name: the name used on the command line.
        build: ``build(x_shape, **options) -> module``; options it does not use are ignored
            through ``**kwargs``.
        binarize: how image data must be prepared (``"dynamic"`` for Bernoulli models,
            ``None`` for grey levels).
        stepper: ``stepper(module, config) -> Stepper`` when the model is not trained by
            plain SVI (adversarial models, two-player objectives); ``None`` means SVI with
            the configured loss.
        description: one line for ``pyrogen list``.
        labels: ``model``, ``guide`` (and ``sample``, if it can) take the class labels as a
            second argument: ``model(x, y)`` with ``y`` int64 of shape (N,); ``build`` gets
            ``num_classes=``.
    """

    name: str
    build: ModelFactory
    binarize: str | None = "dynamic"
    stepper: StepperFactory | None = None
    description: str = ""
    labels: bool = False


_MODELS: dict[str, ModelSpec] = {}
_LOSSES: dict[str, tuple[LossFactory, str]] = {}


def register_model(
    name: str,
    *,
    binarize: str | None = "dynamic",
    stepper: StepperFactory | None = None,
    description: str = "",
    labels: bool = False,
) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering ``build(x_shape, **options) -> module`` under ``name``.

    Args:
        name: the name on the command line.
        binarize: ``"dynamic"`` (a fresh Bernoulli draw of the pixels every epoch, for
            Bernoulli likelihoods) or ``None`` (grey levels).
        stepper: ``stepper(module, config) -> Stepper`` for models not trained by SVI (with
            ``labels=True`` its ``step`` receives ``(x, y)``).
        description: one line for ``pyrogen list`` (default: the first docstring line).
        labels: the model is conditional on the class labels: ``model(x, y)``,
            ``guide(x, y)``, ``build(x_shape, num_classes=..., **options)``.
    """

    def decorate(build: ModelFactory) -> ModelFactory:
        doc = description or (build.__doc__ or "").strip().splitlines()[0:1]
        text = doc if isinstance(doc, str) else (doc[0] if doc else "")
        _MODELS[name] = ModelSpec(name, build, binarize, stepper, text, labels)
        return build

    return decorate


def register_loss(name: str, description: str = "") -> Callable[[LossFactory], LossFactory]:
    """Decorator registering ``make(config) -> pyro.infer.ELBO`` under ``name``."""

    def decorate(make: LossFactory) -> LossFactory:
        _LOSSES[name] = (make, description)
        return make

    return decorate


def _unknown(kind: str, name: str, valid: list[str]) -> ValueError:
    return ValueError(f"unknown {kind} {name!r}; expected one of: {', '.join(valid)}")


def get_model(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name`` (ValueError lists valid names)."""
    _load_builtins()
    if name not in _MODELS:
        raise _unknown("model", name, list_models())
    return _MODELS[name]


def get_loss(name: str, config: dict[str, Any] | None = None) -> ELBO:
    """Builds the objective registered under ``name`` from ``config``."""
    _load_builtins()
    if name not in _LOSSES:
        raise _unknown("loss", name, list_losses())
    return _LOSSES[name][0](config or {})


def list_models() -> list[str]:
    _load_builtins()
    return sorted(_MODELS)


def list_losses() -> list[str]:
    _load_builtins()
    return sorted(_LOSSES)


def describe_models() -> dict[str, str]:
    _load_builtins()
    return {k: _MODELS[k].description for k in sorted(_MODELS)}


def describe_losses() -> dict[str, str]:
    _load_builtins()
    return {k: _LOSSES[k][1] for k in sorted(_LOSSES)}


def import_plugin(target: str) -> None:
    """Imports a module by dotted name or a ``.py`` file by path, so that its
    ``register_model`` calls take effect."""
    path = Path(target)
    if target.endswith(".py"):
        if not path.is_file():
            raise FileNotFoundError(f"--import {target}: no such Python file")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        importlib.import_module(target)


def _load_builtins() -> None:
    # Imported lazily: the built-in families register themselves on import.
    import pyrogen.builtins  # noqa: F401
