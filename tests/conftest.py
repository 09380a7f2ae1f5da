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
