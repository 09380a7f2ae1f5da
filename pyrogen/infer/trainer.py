r"""The SVI stepper: one torch optimizer over every parameter of a model/guide pair.

It follows the :class:`~pyrogen.infer.Stepper` protocol that :func:`~pyrogen.infer.fit`
drives, like the adversarial and other steppers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.infer import ELBO, Trace_ELBO
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from pyrogen.infer.adam_step import FusedAdamStep
from pyrogen.infer.distributed import DistContext
from pyrogen.infer.objective import TrainingObjective, batch_of, compile_objective
from pyrogen.infer.pyro_objective import PyroObjective, check_jit_params
from pyrogen.infer.stepper import LazyAdam
from pyrogen.infer.trainer_state import TrainerState
from pyrogen.infer.update_rule import UpdateRule, UpdateSteps
from pyrogen.models.protocols import ModelGuidePair, implements
from pyrogen.objectives.param_sites import ParamSites


class SVITrainer(LazyAdam, TrainerState, UpdateSteps):
    r"""Stochastic variational inference: one torch optimizer over every parameter.

    Each step minimizes ``loss`` per example, ``loss(model, guide, *batch) / B`` (the negative
    ELBO, or any other :class:`pyro.infer.ELBO`: Trace, TraceMeanField, TraceGraph,
    TraceEnum, Renyi, the Jit variants, TraceTailAdaptive, and pyrogen's own objectives), and
    is always the same three moves: zero the gradients, the objective's ``loss_and_grads``,
    the optimizer step. The batch is passed to ``model`` and ``guide`` as given:
    ``step(x)`` or, for a conditional model, ``step(x, y)``.

    The parameters are found the way Pyro's ``SVI`` finds them, and more: the module's own
    parameters, and every ``param`` site the model and guide touch (``pyro.param`` in a
    hand-written guide, ``pyro.module``, an AutoGuide's parameters, which exist only after
    its first call). The first batch runs the model and guide once to create them, before
    the optimizer is built; parameters that appear later join it as they appear. A trainer
    whose model and guide use no parameter, or whose first step gives none a gradient,
    raises instead of training nothing.

    Which implementation evaluates the objective is chosen by
    :func:`~pyrogen.infer.objective.compile_objective`: Pyro's evaluation for any model and
    objective; for ``Trace_ELBO`` on any model whose latents are all reparameterized, the
    same value scored as the sites are drawn, without Pyro's traces
    (:class:`~pyrogen.infer.tracing_free.TracingFree_ELBO`); for the built-in
    :class:`~pyrogen.models.VAE` and :class:`~pyrogen.models.HierarchicalVAE` with
    ``Trace_ELBO`` or ``IWAE_ELBO(estimator="reparam")``, the bound straight from the
    networks, with a hand-derived gradient where it applies. The faster paths run only where
    they are the same objective (exact class, no method replaced, equal to Pyro's value on
    the same draws on the first batch); ``path`` and ``path_reason`` say which runs and why.

    Parameters live wherever the model keeps them: in the module (PyroModule attributes,
    module-local parameters) or in Pyro's global parameter store; the trainer does not
    change ``pyro.settings``.

    Args:
        module: an :class:`~torch.nn.Module` with ``model`` and ``guide`` methods (or
            attributes, e.g. ``module.guide = AutoNormal(module.model)``).
        loss: the objective; defaults to :class:`~pyro.infer.Trace_ELBO`.
        optim: a torch optimizer; defaults to Adam(``lr``) over every parameter found.
        lr: learning rate of the default optimizer.
        fast: allow the tracing-free objective where it is the same objective.
        analytic_kl: closed-form KL(q(z|x) || p(z)) in the ELBO (same expectation, lower
            variance; needs the tracing-free path and raises when it is unavailable).
        particle_chunk: with the tracing-free path, evaluate at most this many particles at
            a time (bounded memory for large K; see
            :class:`~pyrogen.infer.fast_elbo.VAEObjective`).
        compile: ``torch.compile`` the built-in models' hand-derived step, else their
            tracing-free objective. The first step compiles (seconds; on CPU it needs a C++
            compiler). Refused (``ValueError``) where that objective does not run, as are
            ``bf16`` and ``particle_chunk``: a user's own model, another objective,
            ``fast=False``.
        manual_backward: with the tracing-free path, use the hand-derived gradient where it
            applies (same value and gradient up to float rounding); ``False`` keeps autograd.
        bf16: evaluate the tracing-free objective under ``torch.autocast`` in bfloat16
            (matrix products in bfloat16, reductions in float32; parameters, gradients and
            optimizer state stay float32).
        clip_grad_norm, accumulate, scheduler, scheduler_interval, ema_decay: gradient
            clipping by global norm (the step reports the pre-clip ``grad_norm``), an update
            every ``accumulate`` batches with their mean gradient, a learning-rate scheduler
            factory (e.g. :func:`~pyrogen.infer.schedules.iwae_schedule`) stepped every
            update or every epoch, and a moving average of the parameters used by
            :meth:`evaluate` and ``with trainer.ema_weights(): ...``; all off by default
            (the plain step). See :class:`~pyrogen.infer.update_rule.UpdateRule`.

    Example:
        >>> import torch, pyro, pyro.distributions as dist
        >>> from pyro.infer.autoguide import AutoNormal
        >>> from pyro.nn import PyroModule
        >>> class Mean(PyroModule):
        ...     def model(self, x):
        ...         mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
        ...         with pyro.plate("data", len(x)):
        ...             pyro.sample("x", dist.Normal(mu, 1.0), obs=x)
        >>> pyro.set_rng_seed(0)
        >>> m = Mean()
        >>> m.guide = AutoNormal(m.model)  # its parameters exist only after its first call
        >>> trainer = SVITrainer(m, lr=0.1)
        >>> x = torch.full((50,), 3.0)
        >>> for _ in range(1000):
        ...     _ = trainer.step(x)
        >>> trainer.path, round(m.guide.median()["mu"].item(), 1)
        ('tracing-free', 3.0)
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
        clip_grad_norm: float | None = None,
        accumulate: int = 1,
        scheduler: Callable[[torch.optim.Optimizer], LRScheduler] | None = None,
        scheduler_interval: str | None = None,
        ema_decay: float | None = None,
    ):
        self._rule = UpdateRule(
            clip_grad_norm, accumulate, scheduler, scheduler_interval, ema_decay
        )
        self._plain = self._rule.plain  # no option on: the step as without them
        if not implements(module, ModelGuidePair):
            raise TypeError(
                f"SVITrainer needs a module with model() and guide() methods "
                f"(pyrogen.models.ModelGuidePair); {type(module).__name__} lacks one"
            )
        self.module = module
        self.loss = loss if loss is not None else Trace_ELBO()
        self._lr = lr
        self._optim = optim
        self._user_optim = optim is not None
        self.compile, self.bf16, self.manual_backward = compile, bf16, manual_backward
        self.objective: TrainingObjective = compile_objective(
            module,
            self.loss,
            fast=fast,
            analytic_kl=analytic_kl,
            particle_chunk=particle_chunk,
            compile=compile,
            manual_backward=manual_backward,
            bf16=bf16,
        )
        self._sites = ParamSites()
        self._params: list[torch.Tensor] = []
        self._ready = False
        self._pending: dict[str, Any] | None = None
        self._grads_checked = False
        self._ctx: DistContext | None = None
        self._adam_step: FusedAdamStep | None = None

    # -- what runs ----------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """``"pyro"``, ``"tracing-free"`` or ``"hand-derived"``: see ``path_reason``."""
        return self.objective.path

    @property
    def path_reason(self) -> str:
        return self.objective.reason

    @property
    def fast(self) -> bool:
        """Whether steps skip Pyro's tracing (tracing-free or hand-derived objective)."""
        return self.objective.path != "pyro"

    @property
    def fast_reason(self) -> str | None:
        """Why the Pyro path runs (``None`` on a fast path)."""
        return None if self.fast else self.objective.reason

    @property
    def backward_reason(self) -> str | None:
        """Why the gradient is not hand-derived (``None`` when it is)."""
        if self.objective.path == "hand-derived":
            return None
        if not self.fast:
            return "no fast path: " + self.objective.reason
        if self._ctx is not None:
            return "data-parallel training reduces gradients through autograd"
        return getattr(self.objective, "backward_reason", None)

    # -- parameters ---------------------------------------------------------------------------
    @property
    def params(self) -> list[torch.Tensor]:
        """Every tensor the optimizer updates (known after the first batch)."""
        return list(self._params)

    def _optimized(self) -> list[torch.Tensor]:
        return self._trainable()

    def _trainable(self) -> list[torch.Tensor]:
        params: list[torch.Tensor] = [p for p in self.module.parameters() if p.requires_grad]
        ids = {id(p) for p in params}
        params += [p for p in self._sites.found.values() if id(p) not in ids]
        return params

    def _extra_params(self) -> dict[str, torch.Tensor]:
        """Parameters outside the module (Pyro's parameter store), by their Pyro names."""
        ids = {id(p) for p in self.module.parameters()}
        return {n: p for n, p in self._sites.found.items() if id(p) not in ids}

    def _setup(self, args: tuple, kwargs: dict) -> None:
        """Runs the guide and the model once on the first batch, so that every parameter
        exists (AutoGuides, ``pyro.param``) before the optimizer is built; the random state
        is left as it was, and the module in eval mode meanwhile (no running statistics
        move)."""
        m: Any = self.module
        was_training = self.module.training
        self.module.eval()
        rng = pyro.util.get_rng_state()
        try:
            with poutine.block(), self._sites, torch.no_grad():
                guide_trace = poutine.trace(m.guide).get_trace(*args, **kwargs)
                poutine.replay(m.model, trace=guide_trace)(*args, **kwargs)
        finally:
            pyro.util.set_rng_state(rng)
            self.module.train(was_training)
        self._sites.take_new()
        self._params = self._trainable()
        if not self._params:
            raise ValueError(
                f"{type(self.module).__name__}'s model and guide use no parameter that requires "
                "grad: neither the module's own nor any pyro.param/pyro.module site; there is "
                "nothing to train"
            )
        check_jit_params(self.loss, self.module, self._sites.found)
        self._check_optimizer()
        self._rule.attach(self.optim)
        self._ready = True
        if self._pending is not None:
            self._apply_state(self._pending)
            self._pending = None
        if self._rule.ema is not None:  # from the checkpoint's average, else from here
            self._rule.ema.track(self._params)
        self.objective = self.objective.first_batch(args, kwargs)

    def _check_optimizer(self) -> None:
        held = {id(p) for g in self.optim.param_groups for p in g["params"]}
        missing = [p for p in self._params if id(p) not in held]
        if len(missing) == len(self._params):
            raise ValueError(
                "the optimizer holds none of the parameters the model and guide use; build it "
                "over them (or pass optim=None for Adam over every parameter found)"
            )
        if missing:
            if not self._user_optim:
                self.optim.add_param_group({"params": missing})
            else:
                warnings.warn(
                    f"{len(missing)} parameter(s) the model and guide use are not in the "
                    "optimizer you passed and will not train",
                    stacklevel=3,
                )

    def _join_new_params(self) -> None:
        new = [p for _, p in self._sites.take_new() if p.requires_grad]
        if new:
            self._params += new
            self.optim.add_param_group({"params": new})

    # -- training -----------------------------------------------------------------------------
    def distribute(self, ctx: DistContext | None) -> None:
        """Trains data-parallel from now on (called by :func:`~pyrogen.infer.fit` under
        torchrun, after the module was moved to ``ctx.device``); ``None`` returns to
        single-process steps and releases the DDP wrapper, before the process group ends."""
        self._ctx = ctx
        self.objective.distribute(ctx)

    def step(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        if not self.module.training:  # train() walks every submodule: only when needed
            self.module.train()
        if not self._ready:
            self._setup(args, kwargs)
        rule, plain = self._rule, self._plain
        if plain or rule.starts_window:
            for p in self._params:  # zero_grad(set_to_none=True), unprofiled
                p.grad = None
        scale = 1.0 / batch_of(args, kwargs)
        if not plain and rule.accumulate > 1:
            scale /= rule.accumulate
        if isinstance(self.objective, PyroObjective):  # Pyro-evaluated: params may appear
            with self._sites:
                loss = self.objective.loss_and_grads(args, kwargs, scale, self._params)
            self._join_new_params()
        else:
            loss = self.objective.loss_and_grads(args, kwargs, scale, self._params)
        if not self._grads_checked:
            self._check_gradients()
        if plain:
            self._optimizer_step()
            return self._report(loss.detach().float())
        report = self._report(loss.detach().float() * rule.accumulate)
        if rule.add_batch():
            report.update(self._update())
        return report

    def _check_gradients(self) -> None:
        if all(p.grad is None for p in self._params):
            raise RuntimeError(
                f"the first step gave none of the {len(self._params)} parameter(s) a gradient: "
                f"{type(self.loss).__name__} on this model and guide does not depend on them "
                "(are the networks used outside model() and guide(), or their outputs detached?)"
            )
        self._grads_checked = True

    def _optimizer_step(self) -> None:
        if self._adam_step is None or self._adam_step.optim is not self.optim:
            self._adam_step = FusedAdamStep(self.optim)
        self._adam_step()

    @torch.no_grad()
    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        self.module.eval()
        if not self._ready:
            self._setup(args, kwargs)
        if self._rule.ema is None:
            loss = self.objective.loss(args, kwargs)
        else:
            with self._rule.ema.swapped(self._params):
                loss = self.objective.loss(args, kwargs)
        return self._report(loss.detach().float() / batch_of(args, kwargs))

    def _report(self, loss: torch.Tensor) -> dict[str, torch.Tensor]:
        # A penalized surrogate (beta != 1, KL warm-up, free bits, MMD, the tail-adaptive
        # gradient) is not a bound on log p(x): report it as the loss only, never as "elbo".
        if self.objective.is_bound and getattr(self.loss, "is_bound", True):
            return {"loss": loss, "elbo": -loss}
        return {"loss": loss}
