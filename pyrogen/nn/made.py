r"""MADE: masks that make a feed-forward network autoregressive, and its layers.

Every input d gets a rank r(d) in 0..D-1 (its place in the generation order), every hidden
unit k of layer l a degree m_l(k), and the masks

    M^hidden_l[k, j] = 1[m_l(k) >= m_{l-1}(j)],    M^out[d, k] = 1[r(d) > m_L(k)]

(m_0 = r) make d out_d / d x_j = 0 whenever r(j) >= r(d): output d reads only inputs that
precede it. Hidden degrees lie in 0..D-2 (a unit of degree D-1 could feed no output); they
are drawn at random (the paper's choice, which order-agnostic training resamples) or cycled
through 0..D-2 so that every degree is present in every layer.

References:
    MADE: Masked Autoencoder for Distribution Estimation, M. Germain, K. Gregor, I. Murray,
    H. Larochelle, 2015, eqs. (10), (12)-(13). https://arxiv.org/abs/1502.03509
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.nn.mlp import activation


def made_masks(
    order: torch.Tensor,
    hidden: Sequence[int],
    generator: torch.Generator | None = None,
    *,
    degrees: str = "random",
) -> list[torch.Tensor]:
    """Masks ``(out, in)`` of every layer, the last with ``D`` output rows, for one ordering.

    Args:
        order: permutation of 0..D-1: ``order[i]`` is the position generated i-th.
        hidden: hidden layer sizes.
        generator: random source of the hidden degrees (``degrees="random"``).
        degrees: ``"random"``: m_l(k) uniform on {min m_{l-1}, ..., D-2}; ``"cyclic"``:
            m_l(k) = k mod (D-1), every degree in every layer (with D = 1 the hidden units
            read no input).
    """
    if degrees not in ("random", "cyclic"):
        raise ValueError(f"degrees must be 'random' or 'cyclic', got {degrees!r}")
    d = order.numel()
    rank = torch.empty(d, dtype=torch.long)
    rank[order] = torch.arange(d)
    layers = [rank]
    for size in hidden:
        if degrees == "cyclic":
            deg = torch.arange(size) % (d - 1) if d > 1 else torch.full((size,), -1)
        else:
            lo = int(layers[-1].min())
            hi = max(d - 1, lo + 1)  # exclusive bound: degrees up to D - 2
            deg = torch.randint(lo, hi, (size,), generator=generator)
        layers.append(deg)
    masks = [(deg[:, None] >= prev[None, :]).float() for prev, deg in zip(layers, layers[1:])]
    masks.append((rank[:, None] > layers[-1][None, :]).float())
    return masks


class MaskedLinear(nn.Linear):
    r"""Affine layer with fixed binary connectivity masks: ``y = x (W * M_k)^T + b``.

    Several masks (one per ordering, for order-agnostic training) share one weight.

    Args:
        in_features: input size.
        out_features: output size.
        mask: ``(out_features, in_features)`` 0/1 tensor, or ``(M, out_features,
            in_features)`` for M masks.
        bias: whether to add a bias.

    Shapes:
        input ``(..., in_features)`` -> output ``(..., out_features)``.

    References:
        MADE: Masked Autoencoder for Distribution Estimation, M. Germain et al., 2015,
        eq. (10). https://arxiv.org/abs/1502.03509
    """

    masks: torch.Tensor

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        masks = mask[None] if mask.dim() == 2 else mask
        if masks.dim() != 3 or masks.shape[1:] != (out_features, in_features):
            raise ValueError(
                f"mask must have shape ({out_features}, {in_features}) or "
                f"(M, {out_features}, {in_features}), got {tuple(mask.shape)}"
            )
        self.register_buffer("masks", masks.to(self.weight.dtype))

    def forward(self, x: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        return F.linear(x, self.weight * self.masks[mask_index], self.bias)


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
        # Cyclic hidden degrees: every degree in every layer, so no output loses all its
        # paths; with D = 1 only the context gets through.
        masks = made_masks(deg_in.argsort(), hidden, degrees="cyclic")
        sizes = [input_dim, *hidden]
        self.layers = nn.ModuleList(
            MaskedLinear(i, o, m) for i, o, m in zip(sizes, sizes[1:], masks)
        )
        # output unit p * D + i reads what input i may read
        self.out = MaskedLinear(sizes[-1], num_params * input_dim, masks[-1].repeat(num_params, 1))
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
