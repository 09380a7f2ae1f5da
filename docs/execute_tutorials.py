"""Runs the tutorials as notebooks and stores them, outputs included, for the docs site.

Each ``docs/tutorials/NAME.py`` (jupytext percent format) is converted to a notebook and
executed top to bottom in a fresh kernel at the size the docs show (never the smoke size:
``CI`` and ``PYROGEN_SMOKE`` are removed from the kernel's environment). The result, with
its printed output, tables and figures embedded, is written to
``docs/tutorials/executed/NAME.ipynb``; the figures and tables the tutorial saved go beside
it, to ``docs/tutorials/executed/NAME/`` (checkpoints and caches are left out). The site
renders these notebooks as they are and never executes them (``nb_execution_mode = "off"``
in ``conf.py``); ``tests/test_docs.py`` fails when a stored notebook's cells differ from its
script, so a changed tutorial must be executed again here.

Each runs at its full size, except the tutorials in :data:`SITE_SIZE_DOCS`, which run at
the smaller "docs" size they define and state. Usage (the image datasets come from
``$PYROGEN_DATA``)::

    PYROGEN_DATA=../shared/data python docs/execute_tutorials.py gradient_estimators
    python docs/execute_tutorials.py --all
    python docs/execute_tutorials.py --refresh-markdown iwae   # prose edits only

``--refresh-markdown`` copies the script's markdown cells into the stored notebook without
running anything, and refuses when a code cell changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

DOCS = Path(__file__).resolve().parent
TUTORIALS = DOCS / "tutorials"
EXECUTED = TUTORIALS / "executed"
KEPT = (".png", ".md", ".csv")  # what a tutorial saves that the page may link to
MAX_KEPT_BYTES = 2_000_000
# Tutorials whose full size takes too long on a shared 2-core machine run for the site at
# their "docs" size, which each of them defines and states (PYROGEN_TUTORIAL_SIZE=docs).
SITE_SIZE_DOCS = {"iwae", "training_a_vae"}
QUIET_TQDM = (
    "import warnings\n"
    "from tqdm import TqdmWarning\n"
    "warnings.filterwarnings('ignore', category=TqdmWarning)\n"
)


def tutorial_names() -> list[str]:
    """Every tutorial script, by name (``docs/tutorials/*.py``)."""
    return sorted(p.stem for p in TUTORIALS.glob("*.py"))


def script_notebook(name: str) -> nbformat.NotebookNode:
    """The tutorial script as an unexecuted notebook."""
    return jupytext.read(TUTORIALS / f"{name}.py")


def cell_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: what must match between script and stored run."""
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def execute(
    name: str, timeout: int | None, into: Path = EXECUTED, smoke: bool = False, size: str = "full"
) -> Path:
    """Executes one tutorial and stores the notebook and the files it saved in ``into``.

    ``size`` is ``"full"``, or ``"docs"`` for a tutorial that defines a smaller size for the
    site (it reads ``PYROGEN_TUTORIAL_SIZE``); ``smoke`` runs the tiny size instead (to try
    this script, never for the site).
    """
    nb = script_notebook(name)
    into.mkdir(parents=True, exist_ok=True)
    target = into / name  # the tutorial's output folder, beside its page
    if target.exists():
        shutil.rmtree(target)
    work = Path(tempfile.mkdtemp(prefix=f"tutorial_{name}_"))
    env_before = dict(os.environ)
    for var in ("CI", "PYROGEN_SMOKE"):
        os.environ.pop(var, None)
    if smoke:
        os.environ["PYROGEN_SMOKE"] = "1"
    # The kernel runs in docs/tutorials, as the script would (it may import beside itself).
    os.environ["PYROGEN_TUTORIAL_OUT"] = os.path.relpath(target, TUTORIALS)
    os.environ["PYROGEN_TUTORIAL_SIZE"] = size
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(DOCS.parent), *filter(None, [env_before.get("PYTHONPATH")])]
    )
    # A page shows no progress bars; tqdm in a kernel without widgets warns on import.
    os.environ["TQDM_DISABLE"] = "1"
    startup = work / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "quiet_tqdm.py").write_text(QUIET_TQDM)
    os.environ["IPYTHONDIR"] = str(work / "ipython")
    start = time.perf_counter()
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(TUTORIALS)}},
        )
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start
    nb.metadata["pyrogen"] = {
        "size": "smoke" if smoke else size,
        "execution_seconds": round(seconds),
        "cpus": os.cpu_count(),
    }
    # keep the figures and tables; checkpoints, caches and run folders' binaries go
    for path in sorted(target.rglob("*"), reverse=True) if target.exists() else []:
        if path.is_file() and (path.suffix not in KEPT or path.stat().st_size > MAX_KEPT_BYTES):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    stored = into / f"{name}.ipynb"
    nbformat.write(nb, stored)
    print(f"{name}: executed in {seconds / 60:.1f} min -> {stored}")
    return stored


def refresh_markdown(name: str) -> Path:
    """Copies the script's markdown into the stored notebook; refuses if code changed."""
    stored = EXECUTED / f"{name}.ipynb"
    if not stored.exists():
        raise SystemExit(f"{stored} does not exist: execute the tutorial first")
    nb = nbformat.read(stored, as_version=4)
    script = script_notebook(name)
    code_stored = [s for t, s in cell_sources(nb) if t == "code"]
    code_script = [s for t, s in cell_sources(script) if t == "code"]
    if code_stored != code_script or len(nb.cells) != len(script.cells):
        raise SystemExit(
            f"{name}: the code cells of the script differ from the stored run; its outputs "
            f"would not be the script's. Execute it again: python docs/execute_tutorials.py {name}"
        )
    for cell, new in zip(nb.cells, script.cells):
        if cell.cell_type == "markdown":
            cell.source = new.source
    nbformat.write(nb, stored)
    print(f"{name}: markdown refreshed")
    return stored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="tutorials to run (default: none)")
    parser.add_argument("--all", action="store_true", help="every tutorial, one at a time")
    parser.add_argument(
        "--refresh-markdown", action="store_true", help="copy prose only, execute nothing"
    )
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    parser.add_argument("--smoke", action="store_true", help="tiny size, to try the script")
    parser.add_argument("--into", type=Path, default=EXECUTED, help="output folder")
    parser.add_argument(
        "--size", choices=("full", "docs"), help="default: the site's size of each tutorial"
    )
    args = parser.parse_args(argv)
    names = tutorial_names() if args.all else args.names
    unknown = sorted(set(names) - set(tutorial_names()))
    if unknown or not names:
        parser.error(f"name tutorials among {tutorial_names()} or pass --all; got {unknown}")
    for name in names:
        if args.refresh_markdown:
            refresh_markdown(name)
        else:
            size = args.size or ("docs" if name in SITE_SIZE_DOCS else "full")
            execute(name, args.timeout, args.into, args.smoke, size)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
