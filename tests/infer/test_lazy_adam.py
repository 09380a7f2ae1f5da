"""The lazily built optimizer of the steppers: built over the tensors a stepper names, after
they exist, and never for a stepper that names none."""

import pytest
import torch
from torch import nn

from pyrogen.infer.stepper import LazyAdam


class _Stepper(LazyAdam):
    def __init__(self, module: nn.Module, lr: float = 1e-2):
        self.module, self._lr, self._optim = module, lr, None

    def _optimized(self) -> list[torch.Tensor]:
        return list(self.module.parameters())


def test_the_optimizer_holds_the_parameters_that_exist_at_first_use():
    stepper = _Stepper(nn.Linear(2, 2))
    stepper.module.extra = nn.Parameter(torch.zeros(3))  # created before the first step
    held = {id(p) for group in stepper.optim.param_groups for p in group["params"]}
    assert held == {id(p) for p in stepper.module.parameters()} and len(held) == 3
    assert stepper.optim is stepper.optim  # built once
    assert stepper.optim.param_groups[0]["lr"] == 1e-2


def test_an_optimizer_of_the_users_is_kept():
    module = nn.Linear(2, 2)
    stepper = _Stepper(module)
    mine = torch.optim.SGD(module.parameters(), lr=0.1)
    stepper._optim = mine
    assert stepper.optim is mine


def test_a_stepper_that_names_no_tensors_cannot_be_built():
    class Forgetful(LazyAdam):
        def __init__(self):
            self._lr, self._optim = 1e-3, None

    with pytest.raises(TypeError, match="_optimized"):
        Forgetful()
