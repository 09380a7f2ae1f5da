r"""One fused Adam update without the optimizer's per-step Python bookkeeping.

``torch.optim.Adam(fused=True).step()`` regroups its tensors by device and dtype on every
call before it launches the one fused kernel; for a small network that bookkeeping costs
about as much as the kernel itself. :class:`FusedAdamStep` launches the same kernel
(``torch._fused_adam_``) on the optimizer's own state, so the update, the state and the
checkpoints are exactly those of ``optimizer.step()``:

    m_t = beta1 m_{t-1} + (1 - beta1) g_t,   v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    theta_t = theta_{t-1} - lr * m_t / (1 - beta1^t) / (sqrt(v_t / (1 - beta2^t)) + eps)

It applies only to the configuration it reproduces (one parameter group on one device and
dtype, ``fused=True``, no AMSGrad, weight decay, maximize or tensor learning rate); in every
other case, and on the first step (which creates the state), it calls ``optimizer.step()``.

``torch._fused_adam_`` is private. Where a torch release lacks it, or refuses the arguments
it is called with here (a changed signature raises ``TypeError`` before anything is
updated), every step goes through ``optimizer.step()`` instead: the same Adam update, only
with torch's per-step bookkeeping back.

References:
    Adam: A Method for Stochastic Optimization, D. P. Kingma, J. Ba, 2015, Algorithm 1.
    https://arxiv.org/abs/1412.6980
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

# Looked up once; None where this torch has no such kernel (optimizer.step() is used then).
_FUSED_ADAM: Callable[..., Any] | None = getattr(torch, "_fused_adam_", None)


def _reproducible(optim: torch.optim.Optimizer) -> bool:
    if type(optim) is not torch.optim.Adam or len(optim.param_groups) != 1:
        return False
    if _FUSED_ADAM is None:
        return False
    group = optim.param_groups[0]
    params = group["params"]
    same_kind = len({(p.device, p.dtype) for p in params}) == 1
    return bool(
        group.get("fused")
        and same_kind
        and not group.get("amsgrad")
        and not group.get("maximize")
        and not group.get("differentiable")
        and not group.get("decoupled_weight_decay")
        and group.get("weight_decay", 0) == 0
        and isinstance(group["lr"], float)
        and isinstance(group["betas"][0], float)
        and isinstance(group["betas"][1], float)
    )


class FusedAdamStep:
    """``step()`` equal to ``optim.step()``, with less overhead where it can be.

    Args:
        optim: the optimizer whose state is updated.
    """

    def __init__(self, optim: torch.optim.Optimizer):
        self.optim = optim
        self.direct = _reproducible(optim)

    def __call__(self) -> None:
        optim, kernel = self.optim, _FUSED_ADAM
        params = optim.param_groups[0]["params"] if self.direct else []
        states = [optim.state.get(p) for p in params]
        grads = [p.grad for p in params]
        if kernel is None or not self.direct or not all(states) or any(g is None for g in grads):
            optim.step()
            return
        group = optim.param_groups[0]
        steps = [s["step"] for s in states]  # type: ignore[index]
        torch._foreach_add_(steps, 1)
        try:
            kernel(
                params,
                grads,
                [s["exp_avg"] for s in states],  # type: ignore[index]
                [s["exp_avg_sq"] for s in states],  # type: ignore[index]
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=group["betas"][0],
                beta2=group["betas"][1],
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
        except TypeError:
            # The private kernel's signature changed in this torch: its argument parser
            # refused the call before touching any tensor. Undo the step count and leave the
            # update to the optimizer, now and from here on.
            torch._foreach_sub_(steps, 1)
            self.direct = False
            optim.step()
