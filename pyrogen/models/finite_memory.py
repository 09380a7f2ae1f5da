r"""Finite-memory autoregressive model: p(x_t | x_<t) = p(x_t | f(x_{t-p}, ..., x_{t-1})).

One MLP f, shared across positions, reads a window of the p previous values (zeros before
the start, with a flag per slot saying whether it lies before the start) and emits the
parameters of x_t's conditional. The number of parameters does not grow with the length.

References:
    Deep Learning, I. Goodfellow, Y. Bengio, A. Courville, 2016, Section 10.2 and 20.10.7
    (finite-memory / Markov models with shared parameters). https://www.deeplearningbook.org
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn import MLP


class FiniteMemoryMLP(AutoregressiveModel):
    r"""Order-p shared-MLP density over ``x_shape`` flattened in raster order.

    Args:
        x_shape: shape of one observation (flattened to D positions).
        memory: p, the window length.
        hidden: hidden sizes of the shared MLP.
        likelihood: ``"bernoulli"``, ``"categorical"``, ``"gaussian"``, ... (``**head_kwargs``).

    Example:
        >>> import torch
        >>> from pyrogen.models import FiniteMemoryMLP
        >>> m = FiniteMemoryMLP((8,), memory=3, hidden=(16,))
        >>> m(torch.zeros(2, 8)).shape
        torch.Size([2, 1, 8])

    References:
        Deep Learning, I. Goodfellow et al., 2016, Section 10.2.
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int,
        memory: int = 5,
        hidden: Sequence[int] = (64,),
        likelihood: str | Likelihood = "bernoulli",
        **head_kwargs: object,
    ):
        x_shape = (x_shape,) if isinstance(x_shape, int) else tuple(x_shape)
        super().__init__(x_shape, get_likelihood(likelihood, "autoregressive", **head_kwargs))
        if memory < 1:
            raise ValueError(f"memory must be >= 1, got {memory}")
        self.memory = memory
        self.net = MLP(2 * memory, tuple(hidden), self.head.params_per_value, "relu")

    def _windows(self, xs: torch.Tensor) -> torch.Tensor:
        # (B, D) -> (B, D, 2p): values x_{t-p..t-1} and flags "slot is before the start".
        p, d = self.memory, xs.shape[1]
        vals = F.pad(xs, (p, 0)).unfold(1, p, 1)[:, :d]
        pad = F.pad(torch.zeros_like(xs), (p, 0), value=1.0).unfold(1, p, 1)[:, :d]
        return torch.cat([vals, pad], -1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, *x_shape)`` of every conditional from ``x (B, *x_shape)``."""
        xs = self.head.input_scale(x).reshape(x.shape[0], -1)
        out = self.net(self._windows(xs))  # (B, D, P)
        return out.transpose(1, 2).reshape(x.shape[0], self.head.params_per_value, *self.x_shape)

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        n, p = x.shape[0], self.memory
        flat = x.view(n, -1)
        xs = F.pad(self.head.input_scale(flat), (p, 0))
        flags = F.pad(torch.zeros_like(flat), (p, 0), value=1.0)
        for t in range(flat.shape[1]):
            window = torch.cat([xs[:, t : t + p], flags[:, t : t + p]], -1)
            flat[:, t] = self.head.sample(self.net(window), noise[:, t])
            xs[:, t + p] = self.head.input_scale(flat[:, t])
        return x
