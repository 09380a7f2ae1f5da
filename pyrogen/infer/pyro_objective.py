r"""Any :class:`pyro.infer.ELBO` behind the trainer's one seam, evaluated by Pyro itself.

Pyro's objectives come in three shapes, and each is driven the way Pyro drives it:

* with ``differentiable_loss`` (Trace, TraceMeanField, TraceEnum, their Jit versions and
  pyrogen's own objectives): ``scale * loss`` is backpropagated, so the gradient is that of
  the per-example loss and the value needs no host synchronization;
* with ``loss_and_grads`` only (TraceGraph, Renyi, JitTraceGraph, and JitTrace, whose
  ``differentiable_loss`` doubles reparameterized gradients in Pyro 1.9): Pyro backpropagates the
  summed loss and the gradients are then multiplied by ``scale``, which is exact for any
  objective, linear in the log-densities or not (Renyi's and IWAE's logsumexp are not, so
  scaling the log-densities instead would change the bound);
* :class:`~pyro.infer.TraceTailAdaptive_ELBO`, which has no value by design (its ``loss``
  raises): its gradient is that of the rank-weighted surrogate
  ``-sum_k gamma_k log w_k / sum_k gamma_k`` (Wang, Liu & Liu 2018, eq. (8)), and that
  surrogate, a weighted average of log weights in nats, is what is reported.

References:
    Variational Inference with Tail-adaptive f-Divergence, D. Wang, H. Liu, Q. Liu, 2018.
    https://arxiv.org/abs/1810.11943
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyro
import torch
from pyro.infer import ELBO, TraceTailAdaptive_ELBO
from torch import nn

JIT_OBJECTIVES = (
    "JitTrace_ELBO",
    "JitTraceGraph_ELBO",
    "JitTraceEnum_ELBO",
    "JitTraceMeanField_ELBO",
)


def is_jit(loss: Any) -> bool:
    """Whether ``loss`` is (a subclass of) one of Pyro's Jit objectives."""
    return any(c.__name__ in JIT_OBJECTIVES for c in type(loss).__mro__)


class _DifferentiableLoss(nn.Module):
    """``loss.differentiable_loss(model, guide, x[rows])`` as a module, so that the Pyro path
    can be wrapped by DistributedDataParallel like the tracing-free objectives."""

    def __init__(self, module: nn.Module, model: Callable, guide: Callable, loss: ELBO):
        super().__init__()
        self.module, self.model, self.guide, self.loss = module, model, guide, loss

    def forward(self, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        if rows is not None:
            x = x[rows]
        loss: Any = self.loss
        return loss.differentiable_loss(self.model, self.guide, x)


class PyroObjective:
    """``loss`` evaluated by Pyro on ``module.model``/``module.guide``.

    Args:
        module: owns ``model`` and ``guide`` (and usually the parameters).
        loss: any :class:`pyro.infer.ELBO`, Pyro's or pyrogen's.
        reason: why this path runs (shown by the trainer and the CLI).
    """

    path = "pyro"

    def __init__(self, module: nn.Module, loss: ELBO, reason: str):
        self.module, self.reason = module, reason
        self.elbo: Any = loss  # every objective has loss(); most have differentiable_loss()
        m: Any = module
        self.model, self.guide = m.model, m.guide
        self.tail_adaptive = isinstance(loss, TraceTailAdaptive_ELBO)
        # Pyro 1.9's JitTrace_ELBO.differentiable_loss adds the surrogate to a loss that is
        # not detached, doubling reparameterized gradients; its loss_and_grads is right.
        jit_trace = type(loss).__name__ == "JitTrace_ELBO"
        self.differentiable = callable(getattr(loss, "differentiable_loss", None)) and not jit_trace
        self.is_bound = bool(getattr(loss, "is_bound", True)) and not self.tail_adaptive
        self._ddp: Any = None
        self._ctx: Any = None

    # -- the seam ---------------------------------------------------------------------------
    def first_batch(self, args: tuple, kwargs: dict) -> PyroObjective:
        """Pyro's own evaluation needs no check against itself."""
        return self

    def loss_and_grads(
        self, args: tuple, kwargs: dict, scale: float, params: list[torch.Tensor]
    ) -> torch.Tensor:
        """Adds ``scale * d loss / d params`` to the gradients; returns ``scale * loss``."""
        if self._ddp is not None:
            surrogate, total = self._ddp(_single_tensor(args, kwargs))
            surrogate.backward()
            return total
        if self.tail_adaptive:
            surrogate = self._tail_surrogate(args, kwargs) * scale
            surrogate.backward()
            return surrogate.detach()
        if self.differentiable:
            value = self.elbo.differentiable_loss(self.model, self.guide, *args, **kwargs)
            if not isinstance(value, torch.Tensor) or not value.requires_grad:
                raise RuntimeError(
                    f"{type(self.elbo).__name__}.differentiable_loss returned a value that "
                    "depends on no parameter: the model and guide use none that requires grad"
                )
            value = value * scale
            value.backward()
            return value.detach()
        value = self.elbo.loss_and_grads(self.model, self.guide, *args, **kwargs)
        grads = [p.grad for p in params if p.grad is not None]
        if grads and scale != 1.0:
            torch._foreach_mul_(grads, scale)
        return torch.as_tensor(float(value) * scale)

    def loss(self, args: tuple, kwargs: dict) -> torch.Tensor:
        """The objective's value (summed over the batch), without gradients."""
        if self.tail_adaptive:
            return self._tail_surrogate(args, kwargs).detach()
        return torch.as_tensor(float(self.elbo.loss(self.model, self.guide, *args, **kwargs)))

    def _tail_surrogate(self, args: tuple, kwargs: dict) -> torch.Tensor:
        loss: Any = self.elbo
        total = torch.zeros(())
        for model_trace, guide_trace in loss._get_traces(self.model, self.guide, args, kwargs):
            total = total + loss._differentiable_loss_particle(model_trace, guide_trace)[1]
        return total

    def distribute(self, ctx: Any) -> None:
        from pyrogen.infer.distributed import DataParallelObjective

        if ctx is None:
            self._ddp = None
            return
        if not self.differentiable or self.tail_adaptive:
            raise ValueError(
                f"{type(self.elbo).__name__} has no differentiable_loss, which data-parallel "
                "training needs (gradients are averaged inside the backward pass); train it in "
                "one process, or use an objective with differentiable_loss"
            )
        objective = _DifferentiableLoss(self.module, self.model, self.guide, self.elbo)
        self._ddp = DataParallelObjective(objective, ctx)


def _single_tensor(args: tuple, kwargs: dict) -> torch.Tensor:
    if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor):
        raise ValueError(
            "data-parallel training splits one data tensor across processes; this model takes "
            f"{len(args)} positional and {len(kwargs)} keyword arguments"
        )
    return args[0]


def check_jit_params(loss: ELBO, module: nn.Module, seen: dict[str, torch.Tensor]) -> None:
    """Pyro's Jit objectives hand the compiled function the parameters it finds by name in
    the global parameter store; a parameter used any other way is baked in as a constant,
    which torch refuses. Says so before the first compiled call."""
    if not is_jit(loss):
        return
    if pyro.settings.get("module_local_params"):
        raise ValueError(
            f"{type(loss).__name__} reads parameters by name from Pyro's global parameter "
            "store, which module_local_params=True bypasses; build and train the model with "
            "module_local_params=False (Pyro's default), or use the objective without Jit"
        )
    seen_ids = {id(p) for p in seen.values()}
    missing = [n for n, p in module.named_parameters() if p.requires_grad and id(p) not in seen_ids]
    if missing:
        raise ValueError(
            f"{type(loss).__name__} can compile only parameters registered with Pyro, and "
            f"{len(missing)} parameter(s) of {type(module).__name__} are not (e.g. "
            f"{missing[:3]}): decorate model() and guide() with @pyro.nn.pyro_method, or call "
            "pyro.module(name, network) in them"
        )
