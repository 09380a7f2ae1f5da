"""``benchmarks/gpu_check.sh --dry-run`` runs end to end on a machine without a GPU."""

import os
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).parents[1]


def test_gpu_check_dry_run_reports_the_cuda_part_as_not_run(tmp_path):
    out = tmp_path / "gpu_check.md"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.setdefault("PYROGEN_DATA", str(ROOT.parent / "shared" / "data"))
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--dry-run", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    why = "--dry-run" if torch.cuda.is_available() else "no CUDA device"
    assert f"CUDA part: not run ({why})" in done.stdout
    text = out.read_text()
    assert f"CUDA part: not run ({why})" in text
    rows = [line for line in text.splitlines() if line.startswith("| built-in VAE")]
    assert len(rows) == 2 and all("hand-derived" in r for r in rows), rows
    assert "## pytest -m cuda" in text and "failed" not in text
