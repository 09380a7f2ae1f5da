"""Lets :func:`pyrogen.infer.fit` drive a plain :class:`pyro.infer.SVI` object."""

from __future__ import annotations

from typing import Any

import pyro
import pyro.distributions.constraints as pyro_constraints
import torch
from pyro.infer import SVI
from torch import nn
from torch.distributions import constraints as torch_constraints

from pyrogen.infer.objective import batch_of


class SVIAdapter:
    """Wraps ``pyro.infer.SVI`` in the :class:`~pyrogen.infer.stepper.Stepper` protocol.

    Parameters live in Pyro's global parameter store (classic Pyro usage), so the
    checkpoint holds the store and the optimizer state; ``module`` is an optional module
    for ``fit`` to move to the device. Prefer :class:`~pyrogen.infer.SVITrainer`, which is
    faster (one optimizer for all parameters).
    """

    def __init__(self, svi: SVI, module: nn.Module | None = None):
        self.svi = svi
        self.module = module if module is not None else nn.Module()

    def step(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        loss = torch.tensor(self.svi.step(*args, **kwargs) / batch_of(args, kwargs))
        return {"loss": loss, "elbo": -loss}

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            loss = torch.tensor(self.svi.evaluate_loss(*args, **kwargs) / batch_of(args, kwargs))
        return {"loss": loss, "elbo": -loss}

    def state_dict(self) -> dict[str, Any]:
        store = pyro.get_param_store().get_state()
        # Constraints are objects, which a weights-only checkpoint cannot hold: each is
        # saved as its name (or class name and arguments) in Pyro's constraints module.
        return {
            "params": {
                "params": store["params"],
                "constraints": {k: encode_constraint(c) for k, c in store["constraints"].items()},
            },
            "optim": self.svi.optim.get_state(),
            "module": self.module.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["params"]
        constraints = {k: decode_constraint(c) for k, c in saved["constraints"].items()}
        pyro.get_param_store().set_state({"params": saved["params"], "constraints": constraints})
        self.svi.optim.set_state(state["optim"])
        self.module.load_state_dict(state["module"])


_NAMED = {
    name: c for name in dir(pyro_constraints)
    if isinstance(c := getattr(pyro_constraints, name), torch_constraints.Constraint)
}  # fmt: skip


def encode_constraint(c: torch_constraints.Constraint) -> dict[str, Any]:
    """A constraint as plain values: ``{"name": "positive"}`` for the module's instances,
    ``{"class": "_Interval", "args": {...}}`` for parametrized ones (``interval(0, 1)``)."""
    for name, known in _NAMED.items():
        if c is known:
            return {"name": name}
    cls = type(c)
    if _constraint_class(cls.__name__) is not cls:
        raise TypeError(
            f"cannot checkpoint the param-store constraint {c!r}: expected one from "
            f"pyro.distributions.constraints, got a {cls.__module__}.{cls.__qualname__}"
        )
    args = {
        k: encode_constraint(v) if isinstance(v, torch_constraints.Constraint) else v
        for k, v in vars(c).items()
    }
    return {"class": cls.__name__, "args": args}


def decode_constraint(state: dict[str, Any]) -> torch_constraints.Constraint:
    """Rebuilds an :func:`encode_constraint` value; only constraint classes of Pyro's and
    torch's constraints modules are looked up, so a checkpoint names no other code."""
    if "name" in state:
        return _NAMED[state["name"]]
    cls = _constraint_class(state["class"])
    if cls is None:
        raise ValueError(f"unknown constraint class {state['class']!r} in the checkpoint")
    args = {k: decode_constraint(v) if isinstance(v, dict) else v for k, v in state["args"].items()}
    return cls(**args)


def _constraint_class(name: str) -> type[torch_constraints.Constraint] | None:
    for module in (pyro_constraints, torch_constraints):
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, torch_constraints.Constraint):
            return cls
    return None
