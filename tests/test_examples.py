"""Runs every example in smoke mode; a new example must be listed here."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    "beta_vae.py",
    "dcgan.py",
    "discrete_vae.py",
    "distillation.py",
    "factor_vae.py",
    "flows.py",
    "gan_toy.py",
    "gaussian_mixture.py",
    "hierarchical_vae.py",
    "info_vae.py",
    "infogan.py",
    "iwae.py",
    "pixelcnn.py",
    "posterior_collapse.py",
    "vae.py",
    "vq_vae.py",
    "wavenet.py",
]


def test_every_example_is_listed():
    found = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
    assert found == sorted(EXAMPLES), "list new examples in tests/test_examples.py"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_smoke(name, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), "--smoke-test", "--device", "cpu"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
