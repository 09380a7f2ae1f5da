"""The plumbing shared by the objectives that add a penalty to, or re-weight, the ELBO.

:class:`pyro.infer.ELBO` subclasses whose loss is one differentiable expression (beta-VAE and
its schedules, free bits, InfoVAE's MMD) need the same three things around it: ``loss`` and
``loss_and_grads`` derived from ``differentiable_loss`` (the one place where the math lives),
and a step counter for schedules that only training steps (gradients enabled) advance,
saved with checkpoints so that a resumed run continues the schedule exactly.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import torch
from pyro.infer import ELBO
from pyro.infer.enum import get_importance_trace
from pyro.infer.util import is_validation_enabled
from pyro.util import check_if_enumerated


class PenalizedELBO(ELBO):
    """An ELBO-like objective defined by :meth:`penalized_loss`; ``-loss`` is a surrogate
    (not a bound on log p(x)) unless a subclass says otherwise through ``is_bound``."""

    is_bound = False

    def __init__(self, num_particles: int = 1, **kwargs: Any):
        super().__init__(num_particles=num_particles, **kwargs)
        self.num_steps = 0

    @abc.abstractmethod
    def penalized_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """The objective's loss, summed over the batch, for the current step."""

    def _get_trace(self, model: Any, guide: Any, args: Any, kwargs: Any) -> Any:
        """One particle's model and guide traces, as :class:`~pyro.infer.Trace_ELBO` takes
        them (flat, not enumerated), for the subclasses that score traces in
        :meth:`penalized_loss` through ``self._get_traces``."""
        model_trace, guide_trace = get_importance_trace(
            "flat", self.max_plate_nesting, model, guide, args, kwargs
        )
        if is_validation_enabled():
            check_if_enumerated(guide_trace)
        return model_trace, guide_trace

    def differentiable_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        loss = self.penalized_loss(model, guide, *args, **kwargs)
        # Only gradient-enabled calls are training steps; evaluation must not move a schedule.
        if torch.is_grad_enabled():
            self.num_steps += 1
        return loss

    def loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        if loss.requires_grad:
            loss.backward(retain_graph=self.retain_graph)
        return float(loss.detach())

    def state_dict(self) -> dict[str, int]:
        """The schedules' position, saved with checkpoints for exact resumption."""
        return {"num_steps": self.num_steps}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.num_steps = int(state["num_steps"])
