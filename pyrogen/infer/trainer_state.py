"""The checkpoint side of :class:`~pyrogen.infer.SVITrainer`: its state and its restoration,
including parameters that exist only after the first batch (AutoGuides, ``pyro.param``)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import torch
from pyro.infer import ELBO
from torch import nn

from pyrogen.infer.update_rule import UpdateRule


class TrainerState:
    """``state_dict`` / ``load_state_dict`` of a trainer (mixed into SVITrainer)."""

    module: nn.Module
    loss: ELBO
    _ready: bool
    _pending: dict[str, Any] | None
    _rule: UpdateRule

    if TYPE_CHECKING:  # provided by the trainer this is mixed into

        @property
        def optim(self) -> torch.optim.Optimizer: ...

        def _extra_params(self) -> dict[str, torch.Tensor]: ...

    def state_dict(self) -> dict[str, Any]:
        if not self._ready and self._pending is not None:
            return self._pending  # loaded, not yet applied: the parameters do not exist yet
        state: dict[str, Any] = {
            "module": self.module.state_dict(),
            "optim": self.optim.state_dict(),
            "params": {n: p.detach().clone() for n, p in self._extra_params().items()},
        }
        if callable(getattr(self.loss, "state_dict", None)):  # schedules, baselines
            state["loss"] = self.loss.state_dict()  # type: ignore[attr-defined]
        state.update(self._rule.state_dict())  # "scheduler", "ema" when on
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a :meth:`state_dict`. Parameters created on the first call (AutoGuides)
        and the optimizer over them do not exist before it: those are applied on the first
        batch; the rest at once."""
        if "loss" in state and callable(getattr(self.loss, "load_state_dict", None)):
            self.loss.load_state_dict(state["loss"])  # type: ignore[attr-defined]
        if self._ready:
            self._apply_state(state)
            return
        with contextlib.suppress(RuntimeError):  # lazily created parameters: applied in
            self.module.load_state_dict(state["module"])  # full on the first batch
        self._pending = state

    def _apply_state(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        extra = self._extra_params()
        unknown = sorted(set(state.get("params", {})) - set(extra))
        if unknown:
            raise ValueError(
                f"the checkpoint holds parameters {unknown} that this model and guide do not "
                f"create (they create {sorted(extra)})"
            )
        with torch.no_grad():
            for name, value in state.get("params", {}).items():
                extra[name].copy_(value)
        self.optim.load_state_dict(state["optim"])
        self._rule.load_state_dict(state)
