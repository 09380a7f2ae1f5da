"""The contract checks catch broken transforms (each check can fail)."""

import pytest
import torch
from torch import nn
from torch.distributions import constraints

from pyrogen.testing import (
    TransformContractError,
    check_gradients,
    check_inverse_fresh,
    check_log_det,
    check_log_det_shape,
    check_round_trip,
    check_transform,
)
from pyrogen.transforms import FlowTransform


class Scale(FlowTransform):
    """y = x exp(s) elementwise, with optional deliberate bugs."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, bug=None, dim=3):
        super().__init__()
        self.bug = bug
        self.s = nn.Parameter(torch.linspace(-0.5, 0.5, dim))
        self.unused = nn.Parameter(torch.zeros(1)) if bug == "unused_param" else None

    def _call(self, x):
        y = x * self.s.exp()
        return y + 0.1 * x.sum(0, keepdim=True) if self.bug == "batch_mixing" else y

    def _inverse(self, y):
        x = y * torch.exp(-self.s)
        return x + 1e-4 if self.bug == "inverse" else x

    def log_abs_det_jacobian(self, x, y):
        ld = self.s.sum().expand(x.shape[:-1])
        if self.bug == "log_det":
            return ld + 0.01
        return ld.sum() if self.bug == "shape" else ld


X = torch.randn(4, 3, dtype=torch.float64)


def _points(batch_shape):
    return torch.randn(*batch_shape, 3)


def test_a_correct_transform_passes_every_check():
    check_transform(Scale().double(), X, factory=lambda: Scale().double())


@pytest.mark.parametrize(
    ("bug", "check", "message"),
    [
        ("inverse", lambda t: check_round_trip(t, X), "cache off"),
        ("inverse", lambda t: check_inverse_fresh(t, 3 * X), "fresh points"),
        ("log_det", lambda t: check_log_det(t, X), "forward log"),
        ("batch_mixing", lambda t: check_log_det(t, X), "depend on another"),
        ("shape", lambda t: check_log_det_shape(t, _points, [(2, 5)]), "shape"),
        ("unused_param", lambda t: check_gradients(t, lambda: t, X, X), "'unused'"),
    ],
)
def test_each_check_catches_its_bug(bug, check, message):
    t = Scale(bug).double()
    with pytest.raises(TransformContractError, match=message):
        check(t)


def test_log_det_check_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        check_log_det(Scale(), X.float())
