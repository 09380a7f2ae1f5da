r"""MADE: p(x) = prod_d p(x_{o(d)} | x_{o(<d)}) from one masked feed-forward pass.

An MLP whose weights are masked (:func:`~pyrogen.nn.made.made_masks`) so that output d
only depends on inputs earlier in an ordering o. With ``num_masks = M > 1`` the network is
trained order-agnostically (one random ordering and connectivity per training step, Germain
et al. Section 4) and, outside training mode, the density is the ensemble
p(x) = (1/M) sum_k p_k(x), itself normalized.

References:
    MADE: Masked Autoencoder for Distribution Estimation, M. Germain, K. Gregor, I. Murray,
    H. Larochelle, 2015, eqs. (1), (12)-(13), Section 4. https://arxiv.org/abs/1502.03509
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn.made import MaskedLinear, made_masks
from pyrogen.validation import check_sizes


class MADE(AutoregressiveModel):
    r"""Masked autoencoder density over ``x_shape`` (flattened to D positions).

    Args:
        x_shape: shape of one observation, e.g. ``(1, 28, 28)`` or ``(D,)``.
        hidden: hidden layer sizes.
        num_masks: number of orderings/connectivities (1: a single model).
        order: ``"natural"`` (the first mask is the identity ordering) or ``"random"``.
        likelihood: ``"bernoulli"``, ``"categorical"``, ``"gaussian"``, ... (``**head_kwargs``).
        seed: seed of the orderings and hidden degrees.

    Attributes:
        mask_index: the ordering that ``m(x)`` and :meth:`order` use.

    Example:
        >>> import torch
        >>> from pyrogen.models import MADE
        >>> _ = torch.manual_seed(0)
        >>> m = MADE((6,), hidden=(16,), num_masks=2, order="random").eval()
        >>> m(torch.zeros(3, 6)).shape, m.log_prob(m.sample(3)).shape
        (torch.Size([3, 1, 6]), torch.Size([3]))

    References:
        MADE: Masked Autoencoder for Distribution Estimation, M. Germain et al., 2015.
        https://arxiv.org/abs/1502.03509
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int = (1, 28, 28),
        hidden: Sequence[int] = (500,),
        num_masks: int = 1,
        order: str = "natural",
        likelihood: str | Likelihood = "bernoulli",
        seed: int = 0,
        **head_kwargs: object,
    ):
        x_shape = (x_shape,) if isinstance(x_shape, int) else tuple(x_shape)
        super().__init__(x_shape, get_likelihood(likelihood, "autoregressive", **head_kwargs))
        if order not in ("natural", "random"):
            raise ValueError(f"order must be 'natural' or 'random', got {order!r}")
        if num_masks < 1:
            raise ValueError(f"num_masks must be >= 1, got {num_masks}")
        hidden = check_sizes(hidden, "hidden", allow_empty=True)
        d, p = self.num_positions, self.head.params_per_value
        gen = torch.Generator().manual_seed(seed)
        orders, per_layer = [], []
        for k in range(num_masks):
            o = (
                torch.arange(d)
                if (order == "natural" and k == 0)
                else torch.randperm(d, generator=gen)
            )
            orders.append(o)
            per_layer.append(made_masks(o, hidden, gen))
        self.register_buffer("orders", torch.stack(orders))
        sizes = [d, *hidden]
        layers = [
            MaskedLinear(i, o, torch.stack([m[j] for m in per_layer]))
            for j, (i, o) in enumerate(zip(sizes, sizes[1:]))
        ]
        # The output layer emits P parameters per position: the position's mask, repeated.
        out_masks = torch.stack([m[-1] for m in per_layer]).repeat(1, p, 1)
        layers.append(MaskedLinear(sizes[-1], p * d, out_masks))
        self.layers = nn.ModuleList(layers)
        self.num_masks = num_masks
        self.mask_index = 0
        self._which = torch.zeros(0, dtype=torch.long)  # orderings of the draws in progress

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, mask_index: int | None = None
    ) -> torch.Tensor:
        """Parameters ``(B, P, *x_shape)`` under ordering ``mask_index`` (default: attribute)."""
        k = self.mask_index if mask_index is None else mask_index
        h = self.head.input_scale(x).reshape(x.shape[0], -1)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h, k))
        out = self.layers[-1](h, k)
        return out.view(x.shape[0], self.head.params_per_value, *self.x_shape)

    def order(self) -> torch.Tensor:
        return self.orders[self.mask_index].cpu()

    def _log_prob_mask(self, flat: torch.Tensor, k: int) -> torch.Tensor:
        n = flat.shape[0]
        params = self(flat, None, k).reshape(n, self.head.params_per_value, -1)
        return self.head.log_prob(params, flat.reshape(n, -1)).sum(-1)

    def log_prob(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x): a random ordering in training mode (order-agnostic training), the
        ensemble log (1/M) sum_k p_k(x) otherwise."""
        self.check_x(x)
        self._check_y(y, 0)
        batch = x.shape[: x.dim() - len(self.x_shape)]
        flat = x.reshape(-1, *self.x_shape)
        if self.training and self.num_masks > 1:
            k = int(torch.randint(self.num_masks, ()))
            return self._log_prob_mask(flat, k).reshape(batch)
        lps = torch.stack([self._log_prob_mask(flat, k) for k in range(self.num_masks)])
        return (torch.logsumexp(lps, 0) - math.log(self.num_masks)).reshape(batch)

    def sample(
        self,
        sample_shape: int | Sequence[int] = torch.Size(),
        y: torch.Tensor | None = None,
        cached: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Ensemble draws ``(*sample_shape, *x_shape)``: an ordering per draw, then its chain."""
        shape = self._sample_shape(sample_shape)
        self._which = torch.randint(self.num_masks, (math.prod(shape),), generator=generator)
        return super().sample(shape, y, cached, generator)

    def _generate_naive(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        n, p = x.shape[0], self.head.params_per_value
        which = self._which.to(x.device) if self.num_masks > 1 else None
        flat = x.view(n, -1)
        for k in range(self.num_masks):
            rows = (
                torch.arange(n, device=x.device) if which is None else (which == k).nonzero()[:, 0]
            )
            if rows.numel() == 0:
                continue
            xk = x[rows]
            fk = xk.view(rows.numel(), -1)
            for pos in self.orders[k].tolist():
                params = self(xk, None, k).reshape(rows.numel(), p, -1)[:, :, pos]
                fk[:, pos] = self.head.sample(params, noise[rows, pos])
            flat[rows] = fk
        return x
