"""Lets :func:`pyrogen.infer.fit` drive a plain :class:`pyro.infer.SVI` object."""

from __future__ import annotations

from typing import Any

import pyro
import torch
from pyro.infer import SVI
from torch import nn

from pyrogen.infer.objective import batch_of


class SVIAdapter:
    """Wraps ``pyro.infer.SVI`` in the :class:`~pyrogen.infer.trainer.Stepper` protocol.

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
        return {
            "params": pyro.get_param_store().get_state(),
            "optim": self.svi.optim.get_state(),
            "module": self.module.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pyro.get_param_store().set_state(state["params"])
        self.svi.optim.set_state(state["optim"])
        self.module.load_state_dict(state["module"])
