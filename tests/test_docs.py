"""The docs: every tutorial runs at smoke size, its stored page is its script's latest run,
the API reference covers every subpackage, and the offline intersphinx inventories resolve."""

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from sphinx.util import inventory as sphinx_inventory

import pyrogen

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = sorted(p.name for p in (DOCS / "tutorials").glob("*.py"))
EXECUTED = DOCS / "tutorials" / "executed"


def test_there_are_tutorials():
    assert "training_a_vae.py" in TUTORIALS and "your_own_model.py" in TUTORIALS


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs(name, tmp_path):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "PYROGEN_SMOKE": "1",
        "PYROGEN_TUTORIAL_OUT": str(out),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(DOCS / "tutorials" / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    # the tutorial made its output folder and wrote its figures there
    assert list(out.rglob("*.png")), f"{name} wrote no figure to $PYROGEN_TUTORIAL_OUT"


def _execute_tutorials():
    sys.path.insert(0, str(DOCS))
    try:
        return importlib.import_module("execute_tutorials")
    finally:
        sys.path.remove(str(DOCS))


@pytest.mark.parametrize("name", TUTORIALS)
def test_stored_page_is_the_scripts_run(name):
    """The page shows the outputs of the script as it is: same cells, every one executed."""
    stored = EXECUTED / name.replace(".py", ".ipynb")
    assert stored.exists(), f"no stored run: python docs/execute_tutorials.py {stored.stem}"
    nb = nbformat.read(stored, as_version=4)
    tools = _execute_tutorials()
    again = f"run python docs/execute_tutorials.py {stored.stem}"
    assert tools.cell_sources(nb) == tools.cell_sources(tools.script_notebook(stored.stem)), (
        f"{stored.name} is not the run of the current {name}: {again}"
    )
    site_size = "docs" if stored.stem in tools.SITE_SIZE_DOCS else "full"
    assert nb.metadata["pyrogen"]["size"] == site_size, f"{stored.name} is not at its site size"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"a cell of {stored.name} never ran: {again}"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    # every figure it saved in its output folder is shown on the page (run folders inside
    # it hold what the command line wrote there)
    shown = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    saved = len(list((EXECUTED / stored.stem).glob("*.png")))
    assert saved > 0 and shown >= saved, f"{stored.name}: {saved} figures saved, {shown} shown"


def test_docs_sizes_are_defined_by_their_tutorials():
    for name in _execute_tutorials().SITE_SIZE_DOCS:
        script = (DOCS / "tutorials" / f"{name}.py").read_text()
        assert "PYROGEN_TUTORIAL_SIZE" in script, f"{name}.py defines no docs size"


def test_api_reference_covers_every_subpackage():
    packages = {f"pyrogen.{m.name}" for m in pkgutil.iter_modules(pyrogen.__path__) if m.ispkg}
    documented = set()
    for page in (DOCS / "api").glob("*.md"):
        documented |= set(re.findall(r"automodule:: (pyrogen[\w.]*)", page.read_text()))
    assert packages - documented == set(), f"no API page for {sorted(packages - documented)}"
    # autodoc documents exported classes and functions; exported constants need a py:data
    for package in packages:
        module = importlib.import_module(package)
        page = (DOCS / "api" / f"{package.split('.')[1]}.md").read_text()
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (callable(obj) or inspect.ismodule(obj)):
                assert f"py:currentmodule:: {package}\n" in page, f"{package}.{name}: no py:data"
                assert f"py:data:: {name}\n" in page, f"{package}.{name} is undocumented"
    index = (DOCS / "index.md").read_text()
    for page in (DOCS / "api").glob("*.md"):
        assert f"api/{page.stem}" in index, f"api/{page.name} is not in the index's toctree"


def test_offline_inventories_link_the_names_the_docstrings_use(tmp_path):
    sys.path.insert(0, str(DOCS))
    try:
        mapping = importlib.import_module("external_inventories").write_inventories(tmp_path)
    finally:
        sys.path.remove(str(DOCS))
    pyro_autoguide = "pyro.infer.autoguide.AutoNormal"
    pyro_dist = "pyro.distributions.TorchDistribution"
    torch_transform = "torch.distributions.transforms.Transform"
    expected = {
        "pyro": {
            "pyro.infer.ELBO": "inference_algos.html#pyro.infer.elbo.ELBO",
            "pyro.infer.SVI": "inference_algos.html#pyro.infer.svi.SVI",
            "pyro.nn.PyroModule": "nn.html#pyro.nn.module.PyroModule",
            pyro_autoguide: f"infer.autoguide.html#{pyro_autoguide}",
            pyro_dist: f"distributions.html#{pyro_dist}",
        },
        "torch": {
            "torch.nn.Module": "generated/torch.nn.Module.html#torch.nn.Module",
            "torch.Tensor": "tensors.html#torch.Tensor",
            "torch.utils.data.DataLoader": "data.html#torch.utils.data.DataLoader",
            "torch.optim.Optimizer": "optim.html#torch.optim.Optimizer",
            torch_transform: f"distributions.html#{torch_transform}",
        },
        "numpy": {"numpy.ndarray": "reference/generated/numpy.ndarray.html#numpy.ndarray"},
    }
    for key, names in expected.items():
        url, path = mapping[key]
        with open(path, "rb") as f:
            inventory = sphinx_inventory.InventoryFile.load(f, url, lambda base, uri: base + uri)
        found = {name: entry for items in inventory.values() for name, entry in items.items()}
        for name, uri in names.items():
            assert name in found, f"{name} missing from the {key} inventory"
            location = found[name][2] if isinstance(found[name], tuple) else found[name].uri
            assert location == url + uri, (name, location)
