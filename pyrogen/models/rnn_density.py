r"""RNN density: h_t = RNN(h_{t-1}, x_{t-1}), p(x_t | x_<t) = head(W h_t + b).

The recurrent state summarizes the whole past, so the memory is unbounded while the
parameters are shared across time. The input at step t is the previous value (zero at
t = 0) and a flag marking the first step. Sampling carries the state forward (cached path)
or reruns the network over the prefix at every step (naive path).

References:
    Generating Sequences With Recurrent Neural Networks, A. Graves, 2013, eqs. (1)-(4).
    https://arxiv.org/abs/1308.0850
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood

_CELLS: dict[str, Any] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RNNDensity(AutoregressiveModel):
    r"""LSTM/GRU/Elman density over ``x_shape`` flattened in raster order.

    Args:
        x_shape: shape of one observation (flattened to D steps).
        hidden: state size.
        num_layers: stacked recurrent layers.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        likelihood: ``"bernoulli"``, ``"categorical"``, ``"gaussian"``, ... (``**head_kwargs``).

    Example:
        >>> import torch
        >>> from pyrogen.models import RNNDensity
        >>> m = RNNDensity((6,), hidden=8, cell="gru", likelihood="gaussian")
        >>> m(torch.zeros(2, 6)).shape
        torch.Size([2, 2, 6])

    References:
        Generating Sequences With Recurrent Neural Networks, A. Graves, 2013.
        https://arxiv.org/abs/1308.0850
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int,
        hidden: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        likelihood: str | Likelihood = "bernoulli",
        **head_kwargs: object,
    ):
        x_shape = (x_shape,) if isinstance(x_shape, int) else tuple(x_shape)
        super().__init__(x_shape, get_likelihood(likelihood, "autoregressive", **head_kwargs))
        if cell not in _CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(_CELLS)}")
        self.rnn = _CELLS[cell](2, hidden, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden, self.head.params_per_value)

    def _inputs(self, xs: torch.Tensor) -> torch.Tensor:
        # (B, D) -> (B, D, 2): previous value and a first-step flag.
        prev = F.pad(xs, (1, 0))[:, :-1]
        flag = torch.zeros_like(xs)
        flag[:, 0] = 1.0
        return torch.stack([prev, flag], -1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, *x_shape)`` of every conditional from ``x (B, *x_shape)``."""
        xs = self.head.input_scale(x).reshape(x.shape[0], -1)
        h, _ = self.rnn(self._inputs(xs))
        out = self.out(h)  # (B, D, P)
        return out.transpose(1, 2).reshape(x.shape[0], self.head.params_per_value, *self.x_shape)

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        n = x.shape[0]
        flat = x.view(n, -1)
        state = None
        inp = x.new_zeros(n, 1, 2)
        inp[:, 0, 1] = 1.0
        for t in range(flat.shape[1]):
            h, state = self.rnn(inp, state)
            flat[:, t] = self.head.sample(self.out(h[:, 0]), noise[:, t])
            inp = torch.stack([self.head.input_scale(flat[:, t]), torch.zeros_like(flat[:, t])], -1)
            inp = inp.unsqueeze(1)
        return x
