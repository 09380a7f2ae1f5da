r"""Training tricks of adversarial games that need state or extra graph: historical averaging
and the unrolled critic.

References:
    Improved Techniques for Training GANs, T. Salimans et al., 2016, Sec. 3.3 (historical
    averaging). https://arxiv.org/abs/1606.03498
    Unrolled Generative Adversarial Networks, L. Metz, B. Poole, D. Pfau, J. Sohl-Dickstein,
    2017, eq. (4)-(6). https://arxiv.org/abs/1611.02163
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call


class HistoricalAverage:
    r"""Penalty ``||theta - (1/t) sum_{i<=t} theta_i||^2`` on a module's parameters.

    Each player adds ``weight * penalty()`` to its loss and calls :meth:`update` after its
    optimizer step; the running mean is kept in float32 next to each parameter.

    Args:
        module: the player whose parameters are averaged.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.count = 0
        self.mean: list[torch.Tensor] = []

    def penalty(self) -> torch.Tensor:
        """The squared distance to the running mean; 0 before the first update."""
        params = [p for p in self.module.parameters() if p.requires_grad]
        if not self.count:
            return params[0].new_zeros(())
        return sum(((p - m) ** 2).sum() for p, m in zip(params, self.mean))  # type: ignore[return-value]

    @torch.no_grad()
    def update(self) -> None:
        params = [p for p in self.module.parameters() if p.requires_grad]
        if not self.count:
            self.mean = [p.detach().clone() for p in params]
        else:
            for m, p in zip(self.mean, params):
                m.add_((p - m) / (self.count + 1))
        self.count += 1

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": [m.clone() for m in self.mean]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        device = next(self.module.parameters()).device
        self.mean = [m.to(device) for m in state["mean"]]


def unrolled_critic(
    critic: nn.Module,
    critic_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    steps: int,
    lr: float,
    y: torch.Tensor | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""The critic after ``steps`` differentiable SGD steps, as a function of its input.

    ``theta^{k+1} = theta^k - lr grad_theta L_D(theta^k, G)`` with the graph kept
    (``create_graph=True``), so that the generator's loss ``f(G, theta^K(G))`` is
    differentiated through the critic's response to it (Metz et al. 2017, eq. (5)-(6)). The
    critic's own parameters are not changed.

    Args:
        critic: maps ``(B, *event)`` (and labels) to scores ``(B,)``.
        critic_loss: ``(v_real, v_fake) -> ()``, the loss the critic minimizes.
        real: a data batch ``(B, *event)``.
        fake: generated samples ``(B, *event)`` still attached to the generator's graph.
        steps: K.
        lr: SGD step size.
        y: labels for conditional critics.

    Returns:
        ``x -> scores`` evaluated with the unrolled parameters.
    """
    names = [n for n, p in critic.named_parameters() if p.requires_grad]
    params: dict[str, torch.Tensor] = {
        n: p for n, p in critic.named_parameters() if p.requires_grad
    }

    def call(theta: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(critic, theta, (x,) if y is None else (x, y))

    for _ in range(steps):
        loss = critic_loss(call(params, real), call(params, fake))
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=True)
        params = {n: params[n] - lr * g for n, g in zip(names, grads)}
    return lambda x: call(params, x)
