"""Intersphinx inventories for Pyro, PyTorch and NumPy, made offline from the installed packages.

Intersphinx normally downloads each site's ``objects.inv``. The docs build must work without
network (CI has none), so ``conf.py`` calls :func:`write_inventories`, which writes the
inventories itself: it walks the installed ``pyro``, ``torch`` and ``numpy`` and, for every
public class, function and method, records the page and anchor where that site documents it.
The pages follow each site's layout, read from its documentation sources:

* Pyro (``docs.pyro.ai``) documents whole modules on topic pages (``pyro.infer.svi`` on
  ``inference_algos.html``, anchors ``pyro.infer.svi.SVI``) and some classes by their public
  name (``distributions.html#pyro.distributions.Normal``); :data:`PYRO_MODULE_PAGES` and
  :data:`PYRO_CLASS_PAGES` list them.
* PyTorch (``docs.pytorch.org``) gives most names a generated page
  (``generated/torch.nn.Linear.html``); ``torch.distributions`` (anchors by defining module),
  ``torch.utils.data``, ``torch.optim.Optimizer`` and ``torch.Tensor`` live on topic pages.
* NumPy (``numpy.org``) gives every public function and ``ndarray`` a generated page.

Names re-exported by a package (``pyro.infer.SVI``, ``torch.distributions.Normal``) are
recorded too, pointing to the same anchor. A name outside these rules has no entry, so a
reference to it renders as code without a link, never as a wrong link.
"""

from __future__ import annotations

import importlib
import inspect
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

PYRO_URL = "https://docs.pyro.ai/en/stable/"
TORCH_URL = "https://docs.pytorch.org/docs/stable/"
NUMPY_URL = "https://numpy.org/doc/stable/"

# Pyro modules documented whole (``automodule``), by page; anchors are module.name.
PYRO_MODULE_PAGES = {
    "inference_algos": [
        "pyro.infer.svi",
        "pyro.infer.elbo",
        "pyro.infer.trace_elbo",
        "pyro.infer.tracegraph_elbo",
        "pyro.infer.traceenum_elbo",
        "pyro.infer.trace_mean_field_elbo",
        "pyro.infer.trace_tail_adaptive_elbo",
        "pyro.infer.renyi_elbo",
        "pyro.infer.tracetmc_elbo",
        "pyro.infer.importance",
        "pyro.infer.rws",
        "pyro.infer.svgd",
        "pyro.infer.energy_distance",
        "pyro.infer.discrete",
        "pyro.infer.predictive",
        "pyro.infer.abstract_infer",
    ],
    "nn": ["pyro.nn.module"],
    "primitives": ["pyro.primitives"],
    "poutine": ["pyro.poutine.handlers", "pyro.poutine.runtime", "pyro.poutine.util"],
    "optimization": ["pyro.optim.optim", "pyro.optim.lr_scheduler", "pyro.optim.clipped_adam"],
    "parameters": ["pyro.params.param_store"],
    "settings": ["pyro.settings"],
    "infer.util": ["pyro.infer.inspect"],
}
# Pyro classes documented one by one (``autoclass``) under their public name, by page.
PYRO_CLASS_PAGES = {
    "distributions": "pyro.distributions",
    "infer.autoguide": "pyro.infer.autoguide",
}
# Packages whose public names re-export the objects above.
PYRO_ALIASES = ["pyro", "pyro.infer", "pyro.nn", "pyro.poutine", "pyro.optim"]

TORCH_GENERATED = ["torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.autograd"]
TORCH_TOPIC_PAGES = {
    "distributions.html": [
        "torch.distributions.distribution",
        "torch.distributions.transforms",
        "torch.distributions.transformed_distribution",
        "torch.distributions.normal",
        "torch.distributions.bernoulli",
        "torch.distributions.categorical",
        "torch.distributions.independent",
        "torch.distributions.kl",
    ],
}
# Documented under the package's name (``data.html#torch.utils.data.DataLoader``).
TORCH_PACKAGE_PAGES = {"data.html": "torch.utils.data", "optim.html": "torch.optim"}


def _public(module: ModuleType) -> Iterator[tuple[str, object]]:
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name, None)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
            yield name, obj


def _role(obj: object) -> str:
    return "class" if inspect.isclass(obj) else "function"


def _methods(cls: type) -> Iterator[str]:
    for name, value in vars(cls).items():
        if not name.startswith("_") and callable(value):
            yield name


def _pyro() -> dict[str, tuple[str, str]]:
    """name -> (role, uri) for Pyro; the anchor is the documented name."""
    entries: dict[str, tuple[str, str]] = {}
    by_id: dict[int, tuple[str, str]] = {}

    def add(name: str, obj: object, page: str) -> None:
        uri = f"{page}.html#{name}"
        entries[name] = (_role(obj), uri)
        by_id.setdefault(id(obj), (_role(obj), uri))
        if inspect.isclass(obj):
            for meth in _methods(obj):
                entries[f"{name}.{meth}"] = ("method", f"{page}.html#{name}.{meth}")

    for page, modules in PYRO_MODULE_PAGES.items():
        for modname in modules:
            module = importlib.import_module(modname)
            for name, obj in _public(module):
                if getattr(obj, "__module__", None) == modname:
                    add(f"{modname}.{name}", obj, page)
    for page, package in PYRO_CLASS_PAGES.items():
        for name, obj in _public(importlib.import_module(package)):
            if inspect.isclass(obj) and getattr(obj, "__module__", "").startswith("pyro."):
                add(f"{package}.{name}", obj, page)
    for package in PYRO_ALIASES:
        for name, obj in _public(importlib.import_module(package)):
            if id(obj) in by_id:
                entries.setdefault(f"{package}.{name}", by_id[id(obj)])
    return entries


def _torch() -> dict[str, tuple[str, str]]:
    """name -> (role, uri) for PyTorch."""
    import torch

    entries: dict[str, tuple[str, str]] = {}
    for package in TORCH_GENERATED:
        for name, obj in _public(importlib.import_module(package)):
            full = f"{package}.{name}"
            entries[full] = (_role(obj), f"generated/{full}.html#{full}")
            if inspect.isclass(obj) and package == "torch.nn":
                for meth in _methods(obj):
                    entries[f"{full}.{meth}"] = ("method", f"generated/{full}.html#{full}.{meth}")
    entries["torch.Tensor"] = ("class", "tensors.html#torch.Tensor")
    for meth in _methods(torch.Tensor):
        entries[f"torch.Tensor.{meth}"] = ("method", f"generated/torch.Tensor.{meth}.html")
    for name in ("device", "dtype"):
        entries[f"torch.{name}"] = ("class", f"tensor_attributes.html#torch.{name}")
    for page, package in TORCH_PACKAGE_PAGES.items():
        for name, obj in _public(importlib.import_module(package)):
            if not inspect.isclass(obj) or (package == "torch.optim" and name != "Optimizer"):
                continue  # torch.optim's optimizers have generated pages
            uri = f"{page}#{package}.{name}"
            entries[f"{package}.{name}"] = ("class", uri)
            entries.setdefault(f"{obj.__module__}.{name}", ("class", uri))
    for page, modules in TORCH_TOPIC_PAGES.items():
        package = modules[0].rsplit(".", 1)[0]
        for modname in modules:
            for name, obj in _public(importlib.import_module(modname)):
                if getattr(obj, "__module__", None) == modname:
                    anchor = f"{modname}.{name}"
                    uri = f"{page}#{anchor}"
                    entries[anchor] = (_role(obj), uri)
                    entries.setdefault(f"{package}.{name}", (_role(obj), uri))
    return entries


def _numpy() -> dict[str, tuple[str, str]]:
    """name -> (role, uri) for NumPy."""
    import numpy

    entries: dict[str, tuple[str, str]] = {}
    for name, obj in _public(numpy):
        full = f"numpy.{name}"
        entries[full] = (_role(obj), f"reference/generated/{full}.html#{full}")
    entries["numpy.random.Generator"] = ("class", "reference/random/generator.html")
    return entries


def _dump(project: str, version: str, entries: dict[str, tuple[str, str]], path: Path) -> None:
    """Writes a Sphinx inventory (version 2: a text header, then zlib-compressed lines)."""
    header = (
        f"# Sphinx inventory version 2\n# Project: {project}\n# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines: Iterable[str] = (
        f"{name} py:{role} 1 {uri} -\n" for name, (role, uri) in sorted(entries.items())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + zlib.compress("".join(lines).encode()))


def write_inventories(folder: Path) -> dict[str, tuple[str, str]]:
    """Writes pyro.inv, torch.inv and numpy.inv; returns an ``intersphinx_mapping``."""
    import numpy
    import pyro
    import torch

    made = {
        "pyro": (PYRO_URL, "Pyro", pyro.__version__, _pyro()),
        "torch": (TORCH_URL, "PyTorch", torch.__version__, _torch()),
        "numpy": (NUMPY_URL, "NumPy", numpy.__version__, _numpy()),
    }
    mapping = {}
    for key, (url, project, version, entries) in made.items():
        path = folder / f"{key}.inv"
        _dump(project, version, entries, path)
        mapping[key] = (url, str(path))
    return mapping
