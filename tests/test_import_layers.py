"""The package is layered: every import inside ``pyrogen/`` (at module level or inside a
function) goes to the importing module's own layer or one below it, and no two packages
import each other, directly or through others (docs/layers.md)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pyrogen

PACKAGE = Path(pyrogen.__file__).resolve().parent
# Lowest first; a module may import from its own layer and those before it.
LAYERS = ("nn", "transforms", "models", "metrics", "objectives", "infer", "cli")
# Modules any layer may use; they import nothing from the layers.
BASE = ("data", "validation", "plots", "testing")


def _module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    rel = Path(*name.split(".")[1:])
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def _imports(path: Path, root: Path) -> list[tuple[int, str, str]]:
    """``(line, statement, imported module)`` for every import of the package in ``path``."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from pyrogen.x import y`` imports the module pyrogen.x.y when there is one
            targets = [
                f"{base}.{a.name}" if _is_module(f"{base}.{a.name}", root) else base
                for a in node.names
            ]
        else:
            continue
        statement = ast.get_source_segment(path.read_text(), node) or ""
        for target in targets:
            if target == root.name or target.startswith(root.name + "."):
                found.append((node.lineno, " ".join(statement.split()), target))
    return found


def _part(module: str) -> str | None:
    """The layer or base module that ``module`` belongs to; ``None`` for the top package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else None


def _rank(part: str | None) -> int:
    if part in BASE:
        return 0
    if part in LAYERS:
        return 1 + LAYERS.index(part)
    return len(LAYERS) + 1  # the top package imports every layer: nothing may import it


def layer_violations(root: Path) -> list[str]:
    """Every upward import and every circle between packages under ``root``, each naming the
    file, the line and the import statement."""
    problems = []
    edges: dict[str, dict[str, str]] = {}  # package -> imported package -> where, first seen
    for path in sorted(root.rglob("*.py")):
        source = _part(_module_name(path, root))
        if source is None:  # the top package and ``python -m``'s entry point
            continue
        if source not in LAYERS + BASE:
            problems.append(f"{path.relative_to(root.parent)}: {source!r} is in no layer")
            continue
        for line, statement, target in _imports(path, root):
            dest = _part(target)
            where = f"{path.relative_to(root.parent)}:{line}: {statement}"
            if dest == source:
                continue
            if _rank(dest) > _rank(source):
                problems.append(f"upward import, {source} -> {dest or root.name}: {where}")
            edges.setdefault(source, {}).setdefault(str(dest), where)
    problems.extend(_circles(edges))
    return problems


def _circles(edges: dict[str, dict[str, str]]) -> list[str]:
    """One message per circle of the package graph, listing the import behind each edge."""
    found: list[str] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, {})):
            if nxt in path:
                cycle = path[path.index(nxt) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    hops = [*cycle, nxt]
                    lines = [edges[a][b] for a, b in zip(hops, hops[1:])]
                    found.append(
                        "import circle " + " -> ".join(hops) + ":\n  " + "\n  ".join(lines)
                    )
            else:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return found


def test_no_upward_import_and_no_circle():
    problems = layer_violations(PACKAGE)
    assert not problems, "\n".join(problems)


def test_every_subpackage_and_module_is_in_a_layer():
    parts = {p.stem if p.suffix else p.name for p in PACKAGE.iterdir() if p.name[0] not in "_."}
    parts.discard("py")  # py.typed
    assert parts == set(LAYERS + BASE)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_finds_upward_imports_and_circles(tmp_path):
    """The check has power: a model importing the trainer (inside a function), which closes a
    circle with the trainer's own import of the model, a relative import from the CLI, and
    two base modules importing each other are each reported with their file and statement."""
    root = tmp_path / "pyrogen"
    _write(
        root,
        {
            "__init__.py": "from pyrogen import models\n",
            "models/__init__.py": "",
            "models/vae.py": "def fit():\n    from pyrogen.infer.fit import fit\n",
            "objectives/__init__.py": "from ..cli import main\n",
            "infer/__init__.py": "",
            "infer/fit.py": "import pyrogen.models.vae\n",
            "cli/__init__.py": "main = None\n",
            "data/__init__.py": "from pyrogen import validation\n",
            "validation.py": "import pyrogen.data\n",
        },
    )
    problems = layer_violations(root)
    text = "\n".join(problems)
    assert "upward import, models -> infer: pyrogen/models/vae.py:2: from pyrogen.infer" in text
    assert (
        "upward import, objectives -> cli: pyrogen/objectives/__init__.py:1: from ..cli import"
        in text
    )
    assert "import circle data -> validation -> data" in text
    assert "pyrogen/validation.py:1: import pyrogen.data" in text
    assert "import circle infer -> models -> infer" in text
    assert len(problems) == 4, text  # infer -> models alone is downward; the top package exempt


def test_import_pyrogen_exposes_the_subpackages():
    for name in LAYERS + BASE:
        assert inspect.ismodule(getattr(pyrogen, name)), name
    assert pyrogen.infer.SVITrainer is not None and pyrogen.models.VAE is not None
