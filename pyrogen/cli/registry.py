"""Name registries read by the command line: models and objectives.

Built-in families register themselves here; a user registers a model with the same
decorator, and ``pyrogen train NAME --import my_module`` (or ``pyrogen list``) then treats it
like a built-in one::

    from pyrogen.cli.registry import register_model

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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyro.infer import ELBO
from torch import nn

from pyrogen.infer.stepper import Stepper

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
        options: the ``pyrogen train`` options (config field names, e.g. ``"z_dim"``,
            ``"lr"``) that this model applies beyond those of every run; the command line
            refuses any other one given explicitly (see :mod:`pyrogen.cli.options`).
            ``None`` (a model registered without the argument): the options that ``build``
            names as parameters, and every training option of its trainer.
        defaults: values of options in ``options`` that differ from the command line's
            defaults (e.g. the GAN's loss); ``build``'s own parameter defaults give those of
            ``z_dim``, ``hidden`` and ``likelihood``.
    """

    name: str
    build: ModelFactory
    binarize: str | None = "dynamic"
    stepper: StepperFactory | None = None
    description: str = ""
    labels: bool = False
    options: frozenset[str] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LossSpec:
    """A registered objective: ``make(config) -> ELBO``, its line for ``pyrogen list``, and
    the config fields it reads (``options``)."""

    name: str
    make: LossFactory
    description: str
    options: frozenset[str]


_MODELS: dict[str, ModelSpec] = {}
_LOSSES: dict[str, LossSpec] = {}


def register_model(
    name: str,
    *,
    binarize: str | None = "dynamic",
    stepper: StepperFactory | None = None,
    description: str = "",
    labels: bool = False,
    options: Collection[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
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
        options: the ``pyrogen train`` options it applies beyond those of every run (see
            :class:`ModelSpec`); others given on the command line are refused.
        defaults: its own defaults of some of those options (see :class:`ModelSpec`).
    """

    def decorate(build: ModelFactory) -> ModelFactory:
        _check_free("model", name, build)
        doc = description or (build.__doc__ or "").strip().splitlines()[0:1]
        text = doc if isinstance(doc, str) else (doc[0] if doc else "")
        applies = None if options is None else frozenset(options)
        _MODELS[name] = ModelSpec(
            name, build, binarize, stepper, text, labels, applies, dict(defaults or {})
        )
        return build

    return decorate


def register_loss(
    name: str, description: str = "", options: Collection[str] = ()
) -> Callable[[LossFactory], LossFactory]:
    """Decorator registering ``make(config) -> pyro.infer.ELBO`` under ``name``.

    Args:
        name: the name given to ``--loss``.
        description: one line for ``pyrogen list``.
        options: the config fields ``make`` reads (e.g. ``"num_particles"``, ``"beta"``);
            the command line refuses those of other losses when given with this one.
    """

    def decorate(make: LossFactory) -> LossFactory:
        _check_free("loss", name, make)
        _LOSSES[name] = LossSpec(name, make, description, frozenset(options))
        return make

    return decorate


def _check_free(kind: str, name: str, new: Callable[..., Any]) -> None:
    """Refuses a name that another function registered (a built-in one included: they are
    loaded first), so that a plugin never silently replaces one or is replaced. The same
    function registering again, as when its file is imported a second time, is allowed."""
    _load_builtins()  # a no-op while pyrogen.cli.builtins itself registers
    taken: Callable[..., Any] | None
    if kind == "model":
        taken = _MODELS[name].build if name in _MODELS else None
    else:
        taken = _LOSSES[name].make if name in _LOSSES else None
    if taken is None or _same_function(taken, new):
        return
    where = f"{taken.__module__}.{taken.__qualname__}"
    raise ValueError(
        f"{kind} name {name!r} is already registered by {where}; register "
        f"{new.__module__}.{new.__qualname__} under another name"
    )


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """Whether ``a`` and ``b`` are one definition: same module, name and source line."""

    def where(f: Callable[..., Any]) -> tuple[Any, ...]:
        code = getattr(f, "__code__", None)
        line = (code.co_filename, code.co_firstlineno) if code is not None else None
        return getattr(f, "__module__", None), getattr(f, "__qualname__", None), line

    return where(a) == where(b)


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
    return _LOSSES[name].make(config or {})


def get_loss_spec(name: str) -> LossSpec:
    """The :class:`LossSpec` registered under ``name`` (ValueError lists valid names)."""
    _load_builtins()
    if name not in _LOSSES:
        raise _unknown("loss", name, list_losses())
    return _LOSSES[name]


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
    return {k: _LOSSES[k].description for k in sorted(_LOSSES)}


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
    import pyrogen.cli.builtins  # noqa: F401
