"""The README's example runs as printed (with a shorter budget) and keeps its promises."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_block() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def test_readme_example_runs(capsys):
    code = _python_block()
    shorter = (
        code.replace("epochs=10", "epochs=1")
        .replace('load("binarized_mnist").x', 'load("binarized_mnist").x[:2000]')
        .replace("num_samples=1000", "num_samples=20")
    )
    assert shorter != code
    exec(compile(shorter, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    nll = float(re.search(r"test NLL ([0-9.]+) nats", printed).group(1))
    assert 60 < nll < 400  # a Bernoulli model of 784 pixels after one short epoch


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    command = "PYROGEN_DATA=../shared/data python -m pytest -q"
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()
