r"""MADE masks: an MLP whose output i depends only on inputs that precede i in an ordering.

For input degrees m(d) (a permutation of 1..D), hidden degrees m(k) in [1, D-1] and output
degrees equal to the input degrees, the masks

    M^hidden[k, d] = 1[m(k) >= m(d)],    M^out[d, k] = 1[m(d) > m(k)]

make d out_d / d x_j = 0 whenever m(j) >= m(d), so the network is autoregressive.

References:
    MADE: Masked Autoencoder for Distribution Estimation, M. Germain, K. Gregor, I. Murray,
    H. Larochelle, 2015, eqs. (12)-(13). https://arxiv.org/abs/1502.03509
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.nn.mlp import activation


class MaskedLinear(nn.Linear):
    r"""Affine layer with a fixed binary connectivity mask: ``y = x (W * M)^T + b``.

    Args:
        in_features: input size.
        out_features: output size.
        mask: ``(out_features, in_features)`` tensor of 0/1 entries.
        bias: whether to add a bias.

    Shapes:
        input ``(..., in_features)`` -> output ``(..., out_features)``.

    References:
        MADE: Masked Autoencoder for Distribution Estimation, M. Germain et al., 2015,
        eq. (10). https://arxiv.org/abs/1502.03509
    """

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if mask.shape != (out_features, in_features):
            raise ValueError(
                f"mask must have shape ({out_features}, {in_features}), got {tuple(mask.shape)}"
            )
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def _check_order(order: torch.Tensor | Sequence[int] | None, dim: int) -> torch.Tensor:
    if order is None:
        return torch.arange(1, dim + 1)
    order = torch.as_tensor(order, dtype=torch.long)
    if sorted(order.tolist()) != list(range(1, dim + 1)):
        raise ValueError(
            f"order must be a permutation of 1..{dim} (the degree of each input), "
            f"got {order.tolist()}"
        )
    return order


class AutoregressiveNN(nn.Module):
    r"""MADE conditioner: ``(x, context) -> params`` with ``params[..., p, i]`` a function of
    ``x_j`` for ``order[j] < order[i]`` only (and of the whole context).

    This is the conditioner network of autoregressive flows (IAF/MAF); it is not a density
    model (see :class:`pyrogen.models.MADE` for that).

    Args:
        input_dim: D, size of ``x``.
        hidden: hidden layer sizes (each at least ``D - 1`` so every ordering constraint can
            be met by some unit).
        num_params: P, number of outputs per input dimension (2 for shift and log-scale).
        context_dim: size of the optional context (0 for none); the context feeds every
            hidden unit of the first layer unmasked.
        order: degree of each input, a permutation of 1..D (default: the natural order).
        act: activation name.

    Shapes:
        ``x`` ``(..., D)``, ``context`` ``(..., context_dim)`` (batch shapes broadcast) ->
        ``(..., P, D)``.

    References:
        MADE: Masked Autoencoder for Distribution Estimation, M. Germain, K. Gregor, I. Murray,
        H. Larochelle, 2015, section 4. https://arxiv.org/abs/1502.03509
    """

    def __init__(
        self,
        input_dim: int,
        hidden: Sequence[int] = (64, 64),
        num_params: int = 2,
        context_dim: int = 0,
        order: torch.Tensor | Sequence[int] | None = None,
        act: str = "relu",
    ):
        super().__init__()
        if input_dim < 1 or len(hidden) == 0:
            raise ValueError(
                f"need input_dim >= 1 and at least one hidden layer, got input_dim={input_dim}, "
                f"hidden={tuple(hidden)}"
            )
        self.input_dim, self.num_params, self.context_dim = input_dim, num_params, context_dim
        deg_in = _check_order(order, input_dim)
        self.register_buffer("order", deg_in)
        # Hidden degrees cycle through 1..D-1 so every degree is present in every layer (no
        # output loses all its paths); with D = 1 they are 0 and only the context gets through.
        top = max(input_dim - 1, 1)
        degrees = [deg_in]
        for h in hidden:
            deg = torch.arange(h) % top + 1 if input_dim > 1 else torch.zeros(h, dtype=torch.long)
            degrees.append(deg)
        layers = []
        for d_prev, d_next in zip(degrees[:-1], degrees[1:]):
            mask = d_next[:, None] >= d_prev[None, :]
            layers.append(MaskedLinear(len(d_prev), len(d_next), mask))
        self.layers = nn.ModuleList(layers)
        deg_out = deg_in.repeat(num_params)  # output unit p * D + i has degree order[i]
        out_mask = deg_out[:, None] > degrees[-1][None, :]
        self.out = MaskedLinear(len(degrees[-1]), num_params * input_dim, out_mask)
        self.context_layer = nn.Linear(context_dim, hidden[0], bias=False) if context_dim else None
        # The first coordinate in the order has no hidden unit it may read, so the context
        # also feeds the outputs directly; otherwise its parameters could not depend on it.
        self.context_out = (
            nn.Linear(context_dim, num_params * input_dim, bias=False) if context_dim else None
        )
        self.act = activation(act)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"x must have shape (..., {self.input_dim}), got {tuple(x.shape)}")
        h = self.layers[0](x)
        if self.context_layer is not None:
            if context is None or context.shape[-1] != self.context_dim:
                got = None if context is None else tuple(context.shape)
                raise ValueError(f"context must have shape (..., {self.context_dim}), got {got}")
            h = h + self.context_layer(context)
        h = self.act(h)
        for layer in self.layers[1:]:
            h = self.act(layer(h))
        out = self.out(h)
        if self.context_out is not None:
            out = out + self.context_out(context)
        return out.reshape(*out.shape[:-1], self.num_params, self.input_dim)  # (..., P, D)
