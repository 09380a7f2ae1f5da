"""Sphinx configuration of the pyrogen site.

Build (writes docs/_build/html; CI adds -W so that any warning fails the build):

    python -m sphinx -b html docs docs/_build/html

Tutorial pages are the executed notebooks in ``tutorials/executed/``, rendered as stored
(``nb_execution_mode = "off"``); ``execute_tutorials.py`` produces them. Nothing here needs
network: the intersphinx inventories of Pyro, PyTorch and NumPy are written at build time
from the installed packages (``external_inventories.py``).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS))

from docutils import nodes
from external_inventories import write_inventories

import pyrogen

project = "pyrogen"
author = "The pyrogen developers"
copyright = "The pyrogen developers, Apache-2.0"
release = pyrogen.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "tutorials/*.py",
    "tutorials/plugins",
    "tutorials/executed/*/**",
    "**.ipynb_checkpoints",
]

html_theme = "furo"
html_title = f"pyrogen {release}"
html_static_path: list[str] = []

# -- autodoc and napoleon: Google-style docstrings ---------------------------------------------
autodoc_member_order = "bysource"  # __all__'s order for packages, source order in classes
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False  # torch.nn.Module.forward's text is not ours
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = ["Shapes"]  # free text: "input ``(B, D)`` -> output ``(B,)``"
napoleon_use_ivar = True  # dataclass fields: documented once, by autodoc
add_module_names = False

# -- MyST and notebooks -----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the stored outputs of a full-size run are the page
nb_render_markdown_format = "myst"  # tables a tutorial displays as markdown render as tables
nb_merge_streams = True

# -- intersphinx, offline ---------------------------------------------------------------------
intersphinx_mapping = write_inventories(DOCS / "_build" / "inventories")
intersphinx_disabled_reftypes = ["std:doc"]


def _documented_name(obj: object) -> str | None:
    """The public name under which the API pages document ``obj``, if any."""
    for package in API_PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", None) or vars(module):
            if not name.startswith("_") and getattr(module, name, None) is obj:
                return f"{package}.{name}"
    return None


def _resolve_internal(app, env, node, contnode):
    """Links ``pyrogen.objectives.iwae.IWAE_ELBO`` to where it is documented
    (``pyrogen.objectives``).

    Docstrings name objects by the module that defines them; the API pages document them
    under the package that exports them (``IWAE_ELBO.loss`` follows its class). Objects that
    no package exports stay unlinked.
    """
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("pyrogen."):
        return None
    parts = target.split(".")
    obj: object = None
    for i in range(1, len(parts) + 1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            break
    else:
        return None
    chain = [obj]
    for attr in parts[i - 1 :]:
        chain.append(getattr(chain[-1], attr, None))
    for depth in range(len(chain) - 1, 0, -1):  # the deepest object that is documented
        name = _documented_name(chain[depth]) if chain[depth] is not None else None
        if name is not None:
            new = ".".join([name, *parts[i - 1 + depth :]])
            if new == target:
                return None
            found = env.get_domain("py").resolve_any_xref(
                env, node["refdoc"], app.builder, new, node, contnode
            )
            return found[0][1] if found else None
    return None


# Every page of the API reference documents one of these (api/NAME.md).
_INLINE_LITERAL = re.compile(r"(``.*?``)")


def _escape_bars(app, what, name, obj, options, lines):
    """Docstrings write |x| for an absolute value, which reStructuredText reads as a
    substitution: escape the bars in prose (not in inline literals, literal blocks or
    doctests)."""
    in_block = in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        in_doctest = stripped.startswith(">>>") or (in_doctest and bool(stripped))
        if in_doctest:
            continue
        if in_block and line and not line[0].isspace():
            in_block = False
        if not in_block and "|" in line:
            parts = _INLINE_LITERAL.split(line)
            lines[i] = "".join(p if p.startswith("``") else p.replace("|", r"\|") for p in parts)
        if stripped.endswith("::"):
            in_block = True


API_PACKAGES = [
    "pyrogen.data",
    "pyrogen.nn",
    "pyrogen.models",
    "pyrogen.transforms",
    "pyrogen.metrics",
    "pyrogen.objectives",
    "pyrogen.infer",
    "pyrogen.cli",
    "pyrogen.cli.registry",
    "pyrogen.testing",
    "pyrogen.plots",
]


def _run_note(app, doctree):
    """Adds to each tutorial page how it was run (size, time), from the stored notebook."""
    docname = app.env.docname
    if not docname.startswith("tutorials/executed/"):
        return
    name = docname.rsplit("/", 1)[-1]
    run = json.loads((DOCS / f"{docname}.ipynb").read_text())["metadata"].get("pyrogen", {})
    text = (
        f"This page is a run of docs/tutorials/{name}.py at {run.get('size', 'full')} size, "
        f"executed top to bottom by docs/execute_tutorials.py in "
        f"{run.get('execution_seconds', 0) / 60:.0f} min on {run.get('cpus', '?')} CPU cores; "
        f"its tables, figures and numbers are that run's output."
    )
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None:
        section.insert(1, nodes.note("", nodes.paragraph(text=text)))


def setup(app):
    app.connect("doctree-read", _run_note)
    app.connect("missing-reference", _resolve_internal)
    app.connect("autodoc-process-docstring", _escape_bars)
