r"""The stepper protocol that :func:`pyrogen.infer.fit` drives, and the SVI stepper.

A *stepper* owns a module and its optimizer(s) and performs one update per batch. SVI models
(:class:`SVITrainer`), adversarial pairs and anything else with the same four methods train
under the same loop, with the same checkpoints, progress bar and metrics.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, runtime_checkable

import pyro
import torch
from pyro.infer import ELBO, Trace_ELBO
from torch import nn

from pyrogen.infer.adam_step import FusedAdamStep
from pyrogen.infer.distributed import DataParallelObjective, DistContext
from pyrogen.infer.fast_elbo import FastPathUnavailable, VAEObjective, fast_objective
from pyrogen.infer.fast_hvae import HierarchicalObjective
from pyrogen.infer.vae_backward import ManualBackward, supports_manual_backward


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


class _PyroObjective(nn.Module):
    """``loss.differentiable_loss(model, guide, x[rows])``: the Pyro path, as a module so
    that it can be wrapped for data-parallel training like the fast path."""

    def __init__(self, module: nn.Module, loss: ELBO):
        super().__init__()
        self.module, self.loss = module, loss

    def forward(self, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        if rows is not None:
            x = x[rows]
        m: Any = self.module
        loss: Any = self.loss  # every pyro ELBO subclass has differentiable_loss
        return loss.differentiable_loss(m.model, m.guide, x)


class SVITrainer:
    r"""Stochastic variational inference with one torch optimizer over the module.

    Each step minimizes ``loss.differentiable_loss(model, guide, x) / batch``, i.e. the
    negative ELBO (or any other objective subclassing :class:`pyro.infer.ELBO`) in nats per
    example. Unlike :class:`pyro.infer.SVI`, the parameters are the module's own
    (``module_local_params``) and a single optimizer updates all of them at once.

    For a :class:`~pyrogen.models.VAE` trained with ``Trace_ELBO`` or
    ``IWAE_ELBO(estimator="reparam")`` the objective is evaluated without Pyro's tracing
    (:mod:`pyrogen.infer.fast_elbo`): the same value and gradient on the same random draws,
    faster. Other models and objectives take the Pyro path; ``fast_reason`` says why. For an
    MLP VAE with a Bernoulli likelihood the fast path's gradient is moreover derived by hand
    (:mod:`pyrogen.infer.vae_backward`: no autograd graph) and the default Adam launches its
    fused kernel directly (:mod:`pyrogen.infer.adam_step`); ``backward_reason`` says why
    not, when not.

    Args:
        module: a :class:`~pyro.nn.PyroModule` with ``model`` and ``guide`` methods.
        loss: the objective; defaults to :class:`~pyro.infer.Trace_ELBO`.
        optim: a torch optimizer over ``module.parameters()``; defaults to Adam(``lr``).
        lr: learning rate of the default optimizer.
        fast: use the tracing-free objective when the model and loss allow it.
        analytic_kl: closed-form KL(q(z|x) || p(z)) in the ELBO (same expectation, lower
            variance; needs the fast path and raises when it is unavailable).
        particle_chunk: with the fast path, evaluate at most this many particles at a time
            (bounded memory for large K, one extra forward pass; see
            :class:`~pyrogen.infer.fast_elbo.VAEObjective`).
        compile: ``torch.compile`` the step: the hand-derived forward and backward when
            they apply (its elementwise kernels fused; the optimizer keeps its one fused
            kernel), else the fast objective and the optimizer step. The first step compiles
            (seconds; on CPU it needs a C++ compiler); see ``docs/performance.md``.
        manual_backward: with the fast path, use the hand-derived gradient where it applies
            (same value and gradient up to float rounding); ``False`` keeps autograd.
        bf16: evaluate the objective under ``torch.autocast`` in bfloat16 (matrix products
            in bfloat16, reductions and the likelihood in float32; parameters, gradients and
            optimizer state stay float32). Pays on GPUs and CPUs with bfloat16 units; the
            bound changes by bfloat16 rounding (about 3 significant digits per product).
    """

    def __init__(
        self,
        module: nn.Module,
        loss: ELBO | None = None,
        optim: torch.optim.Optimizer | None = None,
        lr: float = 1e-3,
        *,
        fast: bool = True,
        analytic_kl: bool = False,
        particle_chunk: int | None = None,
        compile: bool = False,
        manual_backward: bool = True,
        bf16: bool = False,
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
        self.compile = compile
        self.fast_reason: str | None = "disabled (fast=False)"
        self._fast: VAEObjective | HierarchicalObjective | None = None
        if fast or analytic_kl:
            try:
                self._fast = fast_objective(
                    module, self.loss, analytic_kl=analytic_kl, particle_chunk=particle_chunk
                )
                self.fast_reason = None
            except FastPathUnavailable as e:
                if analytic_kl:
                    raise
                self.fast_reason = str(e)
        self._slow = _PyroObjective(module, self.loss)
        self._parallel: DataParallelObjective | None = None
        self._ctx: Any = None
        self._compiled_step: Any = None
        self.manual_backward = manual_backward
        self.bf16 = bf16
        self.backward_reason: str | None = None if manual_backward else "disabled"
        self._manual: ManualBackward | None = None
        self._manual_call: Any = None  # ManualBackward.__call__, compiled with compile=True
        self._adam_step: FusedAdamStep | None = None

    @property
    def fast(self) -> bool:
        """Whether steps use the tracing-free objective."""
        return self._fast is not None

    @property
    def optim(self) -> torch.optim.Optimizer:
        # Built lazily so that it sees the parameters after fit() moved the module.
        if self._optim is None:
            self._optim = make_adam(self.module.parameters(), lr=self._lr)
        return self._optim

    def distribute(self, ctx: DistContext | None) -> None:
        """Trains data-parallel from now on (called by :func:`~pyrogen.infer.fit` under
        torchrun, after the module was moved to ``ctx.device``); ``None`` returns to
        single-process steps and releases the DDP wrapper, before the process group ends."""
        self._ctx = ctx
        self._parallel = (
            None if ctx is None else DataParallelObjective(self._objective_module(), ctx)
        )

    def _objective_module(self) -> nn.Module:
        return self._fast if self._fast is not None else self._slow

    def _check_fast(self, x: torch.Tensor) -> None:
        """The fast path's one-time structure check; on failure, the Pyro path from now on."""
        if self._fast is None or self._fast.checked:
            return
        try:
            self._fast.check(x)
        except FastPathUnavailable as e:
            self.fast_reason, self._fast = str(e), None
            if self._parallel is not None:
                self._parallel = DataParallelObjective(self._slow, self._ctx)

    def _summed_loss(self, x: torch.Tensor) -> torch.Tensor:
        self._check_fast(x)
        return self._objective_module()(x)

    def _objective(self, x: torch.Tensor) -> torch.Tensor:
        return self._summed_loss(x) / x.shape[0]

    def _maybe_compile(self) -> None:
        """With ``compile=True`` and no hand-derived step: the objective and the optimizer."""
        if self.compile and self._compiled_step is None and self._fast is not None:
            fast: Any = self._fast
            fast.loss_fn = torch.compile(fast.loss_from_noise)
            self._compiled_step = torch.compile(self.optim.step)

    def _manual_for_step(self) -> ManualBackward | None:
        """The hand-derived backward when it applies to this step (built once, after the
        fast path's structure check), else ``None`` with ``backward_reason`` saying why."""
        if self._manual is not None or not self.manual_backward:
            return self._manual if self._fast is not None and self._parallel is None else None
        if self._fast is None:
            self.backward_reason = "no fast path: " + str(self.fast_reason)
        elif self._parallel is not None:
            self.backward_reason = "data-parallel training reduces gradients through autograd"
        elif self.bf16:
            self.backward_reason = "bf16 autocast runs the objective through autograd"
        else:
            self.backward_reason = supports_manual_backward(self._fast)
            if self.backward_reason is None and isinstance(self._fast, VAEObjective):
                self._manual = ManualBackward(self._fast, reuse_buffers=not self.compile)
                call = self._manual.__call__
                self._manual_call = torch.compile(call) if self.compile else call
        return self._manual

    def _precision(self, x: torch.Tensor) -> contextlib.AbstractContextManager:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=x.device.type, dtype=torch.bfloat16)

    def _optimizer_step(self) -> None:
        if self._adam_step is None or self._adam_step.optim is not self.optim:
            self._adam_step = FusedAdamStep(self.optim)
        self._adam_step()

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.module.training:  # train() walks every submodule: only when needed
            self.module.train()
        with pyro.settings.context(module_local_params=True):
            for group in self.optim.param_groups:  # zero_grad(set_to_none=True), unprofiled
                for p in group["params"]:
                    p.grad = None
            self._check_fast(x)
            manual = self._manual_for_step()
            if manual is not None:
                # the noise is drawn outside the compiled call: the same draws either way
                eps = manual.objective.draw_noise(x.shape[0])
                loss = self._manual_call(x, eps, 1.0 / x.shape[0])
            else:
                self._maybe_compile()
                with self._precision(x):
                    if self._parallel is not None:
                        surrogate, loss = self._parallel(x)
                    else:
                        surrogate = loss = self._objective(x)
                surrogate.float().backward()
            if self._compiled_step is not None:
                self._compiled_step()
            else:
                self._optimizer_step()
        return self._report(loss.detach().float())

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.eval()
        with pyro.settings.context(module_local_params=True), self._precision(x):
            loss = self._objective(x).detach().float()
        return self._report(loss)

    def _report(self, loss: torch.Tensor) -> dict[str, torch.Tensor]:
        # A penalized surrogate (beta != 1, KL warm-up, free bits, MMD) is not a bound on
        # log p(x): report it as the loss only, never as an "elbo".
        if getattr(self.loss, "is_bound", True):
            return {"loss": loss, "elbo": -loss}
        return {"loss": loss}

    def state_dict(self) -> dict[str, Any]:
        state = {"module": self.module.state_dict(), "optim": self.optim.state_dict()}
        if callable(getattr(self.loss, "state_dict", None)):  # schedules, baselines
            state["loss"] = self.loss.state_dict()  # type: ignore[attr-defined]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
        if "loss" in state and callable(getattr(self.loss, "load_state_dict", None)):
            self.loss.load_state_dict(state["loss"])  # type: ignore[attr-defined]
