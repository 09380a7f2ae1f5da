"""Reusable contract checks, for pyrogen's test suite and for users' own components."""

from pyrogen.testing.transforms import (
    TransformContractError,
    check_conditional_transform,
    check_gradients,
    check_inverse_fresh,
    check_log_det,
    check_log_det_shape,
    check_round_trip,
    check_save_load,
    check_transform,
    default_tolerance,
)

__all__ = [
    "TransformContractError",
    "check_conditional_transform",
    "check_gradients",
    "check_inverse_fresh",
    "check_log_det",
    "check_log_det_shape",
    "check_round_trip",
    "check_save_load",
    "check_transform",
    "default_tolerance",
]
