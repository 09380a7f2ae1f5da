"""pyrogen.plots writes PNG files without touching the user's matplotlib backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from pyrogen import plots

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

# A fresh interpreter, as a notebook has: the user picks a backend ("svg" stands in for an
# inline Jupyter backend, which is not installed here), then imports and uses pyrogen.plots.
_SESSION = """
import json, sys
import matplotlib
matplotlib.use("svg")
from pyrogen import plots
after_import = matplotlib.get_backend()
plots.save_curves([{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.0}], sys.argv[1])
print(json.dumps({
    "after_import": after_import,
    "after_save": matplotlib.get_backend(),
    "pyplot_imported": "matplotlib.pyplot" in sys.modules,
}))
"""


def test_importing_and_plotting_keep_the_users_backend(tmp_path):
    out = tmp_path / "curves.png"
    done = subprocess.run(
        [sys.executable, "-c", _SESSION, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if k != "MPLBACKEND"},
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"after_import": "svg", "after_save": "svg", "pyplot_imported": False}
    assert out.read_bytes()[:8] == PNG


def test_figures_never_enter_pyplots_figure_list(tmp_path):
    """A figure registered with pyplot would be shown again by an inline backend at the end of
    a notebook cell, and would leak if never closed."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    images = torch.rand(6, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    written = [
        plots.save_image_grid(images, tmp_path / "grid.png", title="grid"),
        plots.save_signals(torch.randn(5, 30), tmp_path / "signals.png", title="signals"),
        plots.save_density_2d(
            torch.zeros(8, 8), (-1.0, 1.0, -1.0, 1.0), tmp_path / "d.png", torch.randn(10, 2)
        ),
    ]
    assert plt.get_fignums() == before
    for path in written:
        assert path.read_bytes()[:8] == PNG
