r"""The stepper protocol that :func:`pyrogen.infer.fit` drives, and the SVI stepper.

A *stepper* owns a module and its optimizer(s) and performs one update per batch. SVI models
(:class:`SVITrainer`), adversarial pairs and anything else with the same four methods train
under the same loop, with the same checkpoints, progress bar and metrics.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pyro
import torch
from pyro.infer import ELBO, Trace_ELBO
from torch import nn


@runtime_checkable
class Stepper(Protocol):
    """What :func:`~pyrogen.infer.fit` needs from a trainer.

    Attributes:
        module: every trained parameter lives here; ``fit`` moves it to the device and
            saves it in checkpoints.
    """

    module: nn.Module

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One update on a batch; returns 0-dim tensors (no host sync). ``"loss"`` is the
        per-example objective being minimized (nats when it is a negative bound); SVI
        steppers also report ``"elbo"`` = -loss."""
        ...

    def evaluate(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The same quantities as :meth:`step` on a batch, without updating anything."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Module, optimizer(s) and any running statistics, for exact resumption."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def make_adam(
    params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> torch.optim.Optimizer:
    """One Adam over all parameters, with the fused kernel when every parameter supports it
    (the update is the same Adam, computed in one pass instead of one per parameter)."""
    params = [p for p in params if p.requires_grad]
    devices = {p.device.type for p in params}
    fused = devices <= {"cpu", "cuda"} and all(p.dtype.is_floating_point for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, fused=fused)


class SVITrainer:
    r"""Stochastic variational inference with one torch optimizer over the module.

    Each step minimizes ``loss.differentiable_loss(model, guide, x) / batch``, i.e. the
    negative ELBO (or any other objective subclassing :class:`pyro.infer.ELBO`) in nats per
    example. Unlike :class:`pyro.infer.SVI`, the parameters are the module's own
    (``module_local_params``) and a single optimizer updates all of them at once.

    Args:
        module: a :class:`~pyro.nn.PyroModule` with ``model`` and ``guide`` methods.
        loss: the objective; defaults to :class:`~pyro.infer.Trace_ELBO`.
        optim: a torch optimizer over ``module.parameters()``; defaults to Adam(``lr``).
        lr: learning rate of the default optimizer.
    """

    def __init__(
        self,
        module: nn.Module,
        loss: ELBO | None = None,
        optim: torch.optim.Optimizer | None = None,
        lr: float = 1e-3,
    ):
        for name in ("model", "guide"):
            if not callable(getattr(module, name, None)):
                raise TypeError(
                    f"SVITrainer needs a module with model() and guide() methods; "
                    f"{type(module).__name__} has no {name}()"
                )
        self.module = module
        self.loss = loss if loss is not None else Trace_ELBO()
        self._lr = lr
        self._optim = optim

    @property
    def optim(self) -> torch.optim.Optimizer:
        # Built lazily so that it sees the parameters after fit() moved the module.
        if self._optim is None:
            self._optim = make_adam(self.module.parameters(), lr=self._lr)
        return self._optim

    def _objective(self, x: torch.Tensor) -> torch.Tensor:
        module: Any = self.module
        loss: Any = self.loss  # every pyro ELBO subclass has differentiable_loss
        return loss.differentiable_loss(module.model, module.guide, x) / x.shape[0]

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.train()
        with pyro.settings.context(module_local_params=True):
            self.optim.zero_grad(set_to_none=True)
            loss = self._objective(x)
            loss.backward()
            self.optim.step()
        loss = loss.detach()
        return {"loss": loss, "elbo": -loss}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.eval()
        with pyro.settings.context(module_local_params=True):
            loss = self._objective(x).detach()
        return {"loss": loss, "elbo": -loss}

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "optim": self.optim.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
