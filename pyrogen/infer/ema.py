r"""An exponential moving average of parameters, for evaluation and sampling.

After every optimizer update the average moves toward the parameters,

    bar_theta_t = d * bar_theta_{t-1} + (1 - d) * theta_t,     bar_theta_0 = theta_0,

so it weights the update ``t - k`` by ``(1 - d) d^k``: a smoothed version of the iterates,
which often evaluates and samples better than the last one.

References:
    Acceleration of Stochastic Approximation by Averaging, B. T. Polyak, A. B. Juditsky,
    1992. https://doi.org/10.1137/0330046
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch


class ParameterEMA:
    """The moving average of a list of parameters (it grows as parameters appear).

    Args:
        decay: ``d`` in ``[0, 1)``; 0.999 averages over about the last 1000 updates.
    """

    def __init__(self, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"expected an EMA decay in [0, 1), got {decay}")
        self.decay = decay
        self.shadow: list[torch.Tensor] = []
        self.num_updates = 0

    @torch.no_grad()
    def track(self, params: Sequence[torch.Tensor]) -> None:
        """Starts averaging the parameters not yet tracked, from their current value."""
        self.shadow += [p.detach().clone() for p in params[len(self.shadow) :]]

    @torch.no_grad()
    def update(self, params: Sequence[torch.Tensor]) -> None:
        """One step of the average toward ``params`` (in the order first tracked)."""
        self.track(params)
        # lerp(a, b, w) = a + w (b - a) = d a + (1 - d) b for w = 1 - d: one fused pass.
        torch._foreach_lerp_(self.shadow, [p.detach() for p in params], 1.0 - self.decay)
        self.num_updates += 1

    @contextmanager
    def swapped(self, params: Sequence[torch.Tensor]) -> Iterator[None]:
        """The parameters hold the average meanwhile, and their own values after."""
        self.track(params)
        with torch.no_grad():
            saved = [p.detach().clone() for p in params]
            torch._foreach_copy_([p.detach() for p in params], self.shadow)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in params], saved)

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "num_updates": self.num_updates,
            "shadow": [s.clone() for s in self.shadow],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.num_updates = int(state["num_updates"])
        self.shadow = [s.clone() for s in state["shadow"]]
