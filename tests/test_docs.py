"""Executes every tutorial in docs/tutorials at smoke size, as a script."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted(p.name for p in (ROOT / "docs" / "tutorials").glob("*.py"))


def test_there_are_tutorials():
    assert "training_a_vae.py" in TUTORIALS and "your_own_model.py" in TUTORIALS


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs(name, tmp_path):
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "PYROGEN_SMOKE": "1",
        "PYROGEN_TUTORIAL_OUT": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "tutorials" / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
