r"""The one seam between :class:`~pyrogen.infer.SVITrainer` and the objective it optimizes.

A training step is always: zero the gradients, call the objective's ``loss_and_grads``, step
the optimizer. What sits behind ``loss_and_grads`` is chosen once, by
:func:`compile_objective`, among implementations that optimize the *same* objective:

* ``"pyro"``: the loss evaluated by Pyro (:class:`~pyrogen.infer.pyro_objective.PyroObjective`),
  any :class:`pyro.infer.ELBO` on any model and guide;
* ``"tracing-free"``: the built-in VAE's and hierarchical VAE's bound evaluated straight from
  the networks (:mod:`~pyrogen.infer.fast_elbo`), autograd for the gradient;
* ``"hand-derived"``: the same bound with its gradient derived by hand
  (:mod:`~pyrogen.infer.vae_backward`).

A faster implementation engages only where it is provably Pyro's objective: the exact model
class with none of its methods replaced, one of the objectives it reproduces, and, on the
first batch, the same value as Pyro's on the same random draws. Otherwise the Pyro path runs,
and ``reason`` says why.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import torch
from pyro.infer import ELBO, Trace_ELBO, TraceMeanField_ELBO
from torch import nn

from pyrogen.infer.distributed import DataParallelObjective, DistContext
from pyrogen.infer.fast_elbo import FastPathUnavailable, VAEObjective, fast_objective
from pyrogen.infer.fast_hvae import HierarchicalObjective
from pyrogen.infer.pyro_objective import PyroObjective
from pyrogen.infer.tracing_free import TracingFree_ELBO, check_tracing_free
from pyrogen.infer.vae_backward import ManualBackward, supports_manual_backward


class TrainingObjective(Protocol):
    """What :class:`~pyrogen.infer.SVITrainer` calls: one implementation of one objective.

    Attributes:
        path: ``"pyro"``, ``"tracing-free"`` or ``"hand-derived"``.
        reason: why this path runs (printed by ``fit`` and the CLI).
        is_bound: whether the loss is a negative bound on log p(x) (reported as ``elbo``).
    """

    @property
    def path(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def is_bound(self) -> bool: ...

    def first_batch(self, args: tuple, kwargs: dict) -> TrainingObjective:
        """Checks made once, on the first batch; returns the implementation to use."""
        ...

    def loss_and_grads(
        self, args: tuple, kwargs: dict, scale: float, params: list[torch.Tensor]
    ) -> torch.Tensor:
        """Adds ``scale * d loss / d params`` to ``.grad``; returns ``scale * loss``, 0-dim."""
        ...

    def loss(self, args: tuple, kwargs: dict) -> torch.Tensor:
        """The loss summed over the batch, without gradients."""
        ...

    def distribute(self, ctx: DistContext | None) -> None: ...


def _reference_elbo(fast: VAEObjective | HierarchicalObjective, loss: Any) -> Any:
    """The Pyro objective that draws the same noise as the tracing-free one: with K > 1
    particles Trace_ELBO must vectorize them (its default loop draws them one by one)."""
    if type(loss) in (Trace_ELBO, TraceMeanField_ELBO) and fast.num_particles > 1:
        return type(loss)(
            num_particles=fast.num_particles, vectorize_particles=True, max_plate_nesting=1
        )
    return loss if loss is not None else Trace_ELBO()


def values_on_same_draws(
    ours: Callable[[], Any], pyros: Callable[[], Any], device: torch.device
) -> tuple[float, float]:
    """Both losses evaluated from the same random state (left as it was), without grads."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        cpu = torch.get_rng_state()
        gpu = torch.cuda.get_rng_state(device) if devices else None
        a = float(ours())
        torch.set_rng_state(cpu)
        if gpu is not None:
            torch.cuda.set_rng_state(gpu, device)
        b = float(pyros())
    return a, b


def disagreement(ours: float, pyros: float, batch: int) -> str | None:
    """``None`` when a faster implementation's first-batch value is Pyro's (to float32
    rounding of a sum over the batch), else the reason to fall back, also warned about:
    a disagreement is a defect of the faster implementation, never the user's."""
    if abs(ours - pyros) <= 1e-4 * abs(pyros) + 1e-4 * batch:
        return None
    why = (
        f"the faster implementation gave {ours / batch:.6g} nats per example on the first "
        f"batch where Pyro gives {pyros / batch:.6g} on the same draws; training on Pyro's path"
    )
    warnings.warn(why, RuntimeWarning, stacklevel=4)
    return why


class FastObjective:
    """The tracing-free bound of a built-in VAE, with autograd or the hand-derived gradient.

    Args:
        fast: the tracing-free objective.
        reference: Pyro's evaluation of the same loss: the first batch is checked against it,
            and it takes over when the check fails.
        compile: ``torch.compile`` the hand-derived step or the objective.
        manual_backward: use the hand-derived gradient where it applies.
        bf16: evaluate under bfloat16 autocast (autograd path only).
    """

    is_bound = True

    def __init__(
        self,
        fast: VAEObjective | HierarchicalObjective,
        reference: PyroObjective,
        *,
        compile: bool = False,
        manual_backward: bool = True,
        bf16: bool = False,
    ):
        self.fast, self.reference = fast, reference
        self.compile, self.manual_backward, self.bf16 = compile, manual_backward, bf16
        self.backward_reason: str | None = None if manual_backward else "disabled"
        self.manual: ManualBackward | None = None
        self._manual_call: Any = None
        self._ddp: DataParallelObjective | None = None
        self._ctx: DistContext | None = None
        self._choose_backward()

    @property
    def path(self) -> str:
        return "hand-derived" if self._uses_manual() else "tracing-free"

    @property
    def reason(self) -> str:
        what = f"{type(self.fast.vae).__name__} with {type(self.reference.elbo).__name__}"
        if self._uses_manual():
            return f"{what}: bound and gradient derived by hand (same value as Pyro's)"
        return f"{what}: bound without Pyro's tracing (hand-derived gradient: " + (
            f"{self.backward_reason})"
        )

    def _uses_manual(self) -> bool:
        return self.manual is not None and self._ddp is None

    def _choose_backward(self) -> None:
        if not self.manual_backward:
            return
        if self.bf16:
            self.backward_reason = "bf16 autocast runs the objective through autograd"
            return
        self.backward_reason = supports_manual_backward(self.fast)
        if self.backward_reason is None and isinstance(self.fast, VAEObjective):
            self.manual = ManualBackward(self.fast, reuse_buffers=not self.compile)
            call = self.manual.__call__
            self._manual_call = torch.compile(call) if self.compile else call
        elif self.compile:
            fast: Any = self.fast
            fast.loss_fn = torch.compile(fast.loss_from_noise)

    # -- the first batch ----------------------------------------------------------------------
    def first_batch(self, args: tuple, kwargs: dict) -> TrainingObjective:
        """The structure check and the value check against Pyro; the Pyro path on failure."""
        if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor):
            return self._fall_back(
                f"the fast path takes one data tensor; the model was called with {len(args)} "
                f"positional and {len(kwargs)} keyword argument(s)"
            )
        x = args[0]
        try:
            self.fast.check(x)
        except FastPathUnavailable as e:
            return self._fall_back(str(e))
        ours, pyros = self._values_on_same_draws(x)
        why = disagreement(ours, pyros, x.shape[0])
        if why is not None:
            return self._fall_back(why)
        return self

    def _values_on_same_draws(self, x: torch.Tensor) -> tuple[float, float]:
        reference = _reference_elbo(self.fast, self.reference.elbo)
        return values_on_same_draws(
            lambda: self.fast(x),
            lambda: reference.loss(self.reference.model, self.reference.guide, x),
            x.device,
        )

    def _fall_back(self, why: str) -> PyroObjective:
        idle = _fast_only_options(self.compile, self.bf16)
        if idle:
            raise FastPathUnavailable(
                f"{idle}: option(s) of the fast objective, which cannot run on this data "
                f"({why}); omit {idle} to train on Pyro's path"
            )
        self.reference.reason = why
        self.reference.distribute(self._ctx)
        return self.reference

    # -- the seam -----------------------------------------------------------------------------
    def _precision(self, x: torch.Tensor) -> contextlib.AbstractContextManager:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=x.device.type, dtype=torch.bfloat16)

    def loss_and_grads(
        self, args: tuple, kwargs: dict, scale: float, params: list[torch.Tensor]
    ) -> torch.Tensor:
        x = args[0]
        if self._uses_manual():
            # the noise is drawn outside the (possibly compiled) call: the same draws either way
            eps = self.fast.draw_noise(x.shape[0])
            return self._manual_call(x, eps, scale)
        with self._precision(x):
            if self._ddp is not None:
                surrogate, loss = self._ddp(x)
            else:
                surrogate = loss = self.fast(x) * scale
        surrogate.float().backward()
        return loss.detach().float()

    def loss(self, args: tuple, kwargs: dict) -> torch.Tensor:
        with self._precision(args[0]):
            return self.fast(args[0]).float()

    def distribute(self, ctx: DistContext | None) -> None:
        self._ctx = ctx
        self._ddp = None if ctx is None else DataParallelObjective(self.fast, ctx)


class TracingFreeObjective(PyroObjective):
    """Any model and guide with reparameterized latents, under ``Trace_ELBO``: evaluated by
    :class:`~pyrogen.infer.tracing_free.TracingFree_ELBO`, checked on the first batch."""

    path = "tracing-free"

    def __init__(self, module: nn.Module, loss: Trace_ELBO, why_not_builtin: str):
        super().__init__(
            module,
            TracingFree_ELBO(num_particles=loss.num_particles),
            reason="reparameterized latents under Trace_ELBO: sites scored as they are drawn, "
            f"without Pyro's traces, same value as Pyro's (not the built-in VAE path: "
            f"{why_not_builtin})",
        )
        self.reference = PyroObjective(module, loss, reason="")

    def first_batch(self, args: tuple, kwargs: dict) -> PyroObjective:
        try:
            check_tracing_free(self.model, self.guide, args, kwargs)
            ours, pyros = values_on_same_draws(
                lambda: self.loss(args, kwargs),
                lambda: self.reference.loss(args, kwargs),
                _device_of(args, kwargs),
            )
        except FastPathUnavailable as e:
            return self._fall_back(str(e))
        why = disagreement(ours, pyros, batch_of(args, kwargs))
        return self if why is None else self._fall_back(why)

    def _fall_back(self, why: str) -> PyroObjective:
        self.reference.reason = why
        self.reference.distribute(self._ctx)
        return self.reference

    def distribute(self, ctx: DistContext | None) -> None:
        self._ctx = ctx
        super().distribute(ctx)


def _fast_only_options(compile: bool, bf16: bool, particle_chunk: int | None = None) -> str:
    """The requested options that act only inside :class:`FastObjective`, spelled out."""
    given = (
        ("compile=True", compile),
        ("bf16=True", bf16),
        (f"particle_chunk={particle_chunk}", particle_chunk is not None),
    )
    return ", ".join(n for n, on in given if on)


def _device_of(args: tuple, kwargs: dict) -> torch.device:
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            return a.device
    return torch.device("cpu")


def batch_of(args: tuple, kwargs: dict) -> int:
    """Examples in a batch: the leading dim of the first tensor argument (1 if none)."""
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            return int(a.shape[0]) if a.dim() > 0 else 1
    return 1


def compile_objective(
    module: nn.Module,
    loss: ELBO | None = None,
    *,
    fast: bool = True,
    analytic_kl: bool = False,
    particle_chunk: int | None = None,
    compile: bool = False,
    manual_backward: bool = True,
    bf16: bool = False,
) -> TrainingObjective:
    """The fastest implementation of ``loss`` on ``module`` that is provably the same
    objective as Pyro's (see the module docstring); ``.path`` and ``.reason`` say which.

    With ``analytic_kl=True`` the objective is Pyro's ``TraceMeanField_ELBO`` (the ELBO with
    the closed-form KL): the fast objective reproduces it, and ``fast=False`` runs Pyro's.

    Raises:
        FastPathUnavailable: ``analytic_kl=True`` with ``fast=True`` where no tracing-free
            objective exists (the closed-form KL changes the estimator, so it is never
            silently dropped); ``compile``, ``bf16`` or ``particle_chunk`` where the built-in fast
            objective, the only one they act in, does not run (a user's own model, another
            objective, ``fast=False``).
    """
    chosen = _choose_objective(
        module, loss, fast, analytic_kl, particle_chunk, compile, manual_backward, bf16
    )
    idle = _fast_only_options(compile, bf16, particle_chunk)
    if idle and not isinstance(chosen, FastObjective):
        raise FastPathUnavailable(
            f"{idle}: option(s) of the built-in models' fast objective, which does not run "
            f"here ({chosen.reason}); omit {idle}"
        )
    return chosen


def _choose_objective(
    module: nn.Module,
    loss: ELBO | None,
    fast: bool,
    analytic_kl: bool,
    particle_chunk: int | None,
    compile: bool,
    manual_backward: bool,
    bf16: bool,
) -> TrainingObjective:
    loss = loss if loss is not None else Trace_ELBO()
    reference = PyroObjective(module, loss, reason="disabled (fast=False)")
    if analytic_kl and type(loss) is Trace_ELBO:
        # Pyro's own ELBO with the closed-form KL is TraceMeanField_ELBO: the first batch is
        # checked against it, it takes over if the check fails, and it runs under fast=False
        reference = PyroObjective(
            module,
            TraceMeanField_ELBO(num_particles=loss.num_particles),
            reason="disabled (fast=False): Pyro's TraceMeanField_ELBO, the closed-form KL",
        )
    if not fast:
        return reference
    try:
        objective = fast_objective(
            module, loss, analytic_kl=analytic_kl, particle_chunk=particle_chunk
        )
    except FastPathUnavailable as e:
        if analytic_kl:
            raise
        if type(loss) is Trace_ELBO and not loss.vectorize_particles:
            return TracingFreeObjective(module, loss, str(e))
        reference.reason = str(e)
        return reference
    return FastObjective(
        objective, reference, compile=compile, manual_backward=manual_backward, bf16=bf16
    )
