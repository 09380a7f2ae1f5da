import os

import pyro
import pytest
import torch

# Tests run single-threaded so several test processes and the 2-core CI machine do not
# oversubscribe; set before any work is done.
torch.set_num_threads(int(os.environ.get("PYROGEN_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _fresh_pyro_state():
    """Every test starts from a clean global state and local module parameters."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    with pyro.settings.context(module_local_params=True):
        yield


SWEEP_SEEDS = 20


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``stat_seed`` is a statistical test: the default run draws its data with
    seed 0 only; ``pytest -m slow`` runs the by-hand sweep over seeds 0..19, which it must pass
    at its sample size (each statistical test is sized so that it does)."""
    if "stat_seed" in metafunc.fixturenames:
        sweep = [
            pytest.param(s, marks=pytest.mark.slow, id=f"sweep{s}") for s in range(SWEEP_SEEDS)
        ]
        metafunc.parametrize("stat_seed", [pytest.param(0, id="seed0"), *sweep])


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``cuda`` are collected on every machine, so a typo in them fails
    collection everywhere. Without a CUDA device they are reported as *skipped: not
    applicable*, never as passed: a green CPU run says nothing about the GPU, and the summary
    line (``-ra``) says so. This is the one deliberate skip of the suite; on a machine with a
    GPU they run (``pytest -m cuda``, or ``bash benchmarks/gpu_check.sh``)."""
    if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.skip("not applicable: no CUDA device")
