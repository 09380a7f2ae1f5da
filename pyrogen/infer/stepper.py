r"""The stepper protocol that :func:`pyrogen.infer.fit` drives, and the default optimizer.

A *stepper* owns a module and its optimizer(s) and performs one update per batch. SVI models
(:class:`~pyrogen.infer.SVITrainer`), adversarial pairs and anything else with the same four
methods train under the same loop, with the same checkpoints, progress and metrics. A stepper
may also have ``end_epoch(epoch, metrics)``, which ``fit`` calls after each epoch's training
steps (epoch-wise learning-rate schedules, the last partial window of gradient accumulation).
"""

from __future__ import annotations

import abc
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Stepper(Protocol):
    """What :func:`~pyrogen.infer.fit` needs from a trainer.

    Attributes:
        module: every trained parameter lives here; ``fit`` moves it to the device and
            saves it in checkpoints.
    """

    module: nn.Module

    def step(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """One update on a batch (the model's arguments, e.g. ``x`` or ``x, y``); returns
        0-dim tensors (no host sync). ``"loss"`` is the per-example objective being minimized
        (nats when it is a negative bound); SVI steppers also report ``"elbo"`` = -loss."""
        ...

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The same quantities as :meth:`step` on a batch, without updating anything."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Module, optimizer(s) and any running statistics, for exact resumption."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class LazyAdam(abc.ABC):
    """The ``optim`` of a stepper, built on first use: by then ``fit`` has moved the module to
    its device and a first batch has created any lazily built parameters, so the optimizer
    holds the tensors that train. A stepper sets ``_lr`` (and ``_optim``: ``None``, or an
    optimizer of the user's) and says which tensors train in :meth:`_optimized`; a subclass
    without it cannot be instantiated."""

    _optim: torch.optim.Optimizer | None
    _lr: float

    @abc.abstractmethod
    def _optimized(self) -> list[torch.Tensor]:
        """The tensors the default Adam updates."""

    @property
    def optim(self) -> torch.optim.Optimizer:
        if self._optim is None:
            self._optim = make_adam(self._optimized(), lr=self._lr)
        return self._optim


def make_adam(
    params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> torch.optim.Optimizer:
    """One Adam over all parameters, with the fused kernel when every parameter supports it
    (the update is the same Adam, computed in one pass instead of one per parameter)."""
    params = [p for p in params if p.requires_grad]
    devices = {p.device.type for p in params}
    fused = devices <= {"cpu", "cuda"} and all(p.dtype.is_floating_point for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, fused=fused)
