r"""Transformer density: p(x_t | x_<t) = head(W Transformer(e(x_{<t}))_t + b).

The input at position t embeds the previous value x_{t-1} (a learned start vector at
t = 0) plus a learned position embedding; causal attention makes output t depend on
x_0..x_{t-1} only. Sampling uses the key-value cache (cached path) or reruns the whole
transformer at every step (naive path).

References:
    Attention Is All You Need, A. Vaswani et al., 2017. https://arxiv.org/abs/1706.03762
    Generative Pretraining from Pixels, M. Chen et al., 2020 (pixels as a sequence).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyrogen.models.autoregressive import AutoregressiveModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn.causal_transformer import CausalTransformer
from pyrogen.validation import check_positive_int


class TransformerDensity(AutoregressiveModel):
    r"""Causal transformer density over ``x_shape`` flattened in raster order.

    Args:
        x_shape: shape of one observation (flattened to D positions).
        d_model, num_heads, num_layers: transformer size.
        likelihood: ``"bernoulli"``, ``"categorical"``, ``"gaussian"``, ... (``**head_kwargs``).

    Example:
        >>> import torch
        >>> from pyrogen.models import TransformerDensity
        >>> _ = torch.manual_seed(0)
        >>> m = TransformerDensity((2, 3), d_model=16, num_heads=2, num_layers=1)
        >>> m(torch.zeros(4, 2, 3)).shape, m.sample(4).shape
        (torch.Size([4, 1, 2, 3]), torch.Size([4, 2, 3]))

    References:
        Attention Is All You Need, A. Vaswani et al., 2017. https://arxiv.org/abs/1706.03762
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        likelihood: str | Likelihood = "bernoulli",
        **head_kwargs: object,
    ):
        x_shape = (x_shape,) if isinstance(x_shape, int) else tuple(x_shape)
        check_positive_int(d_model, "d_model")
        check_positive_int(num_heads, "num_heads")
        check_positive_int(num_layers, "num_layers")
        super().__init__(x_shape, get_likelihood(likelihood, "autoregressive", **head_kwargs))
        self.value_embed = nn.Linear(1, d_model)
        self.start = nn.Parameter(torch.zeros(d_model))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(self.num_positions, d_model))
        self.transformer = CausalTransformer(d_model, num_heads, num_layers)
        self.out = nn.Linear(d_model, self.head.params_per_value)

    def _embed(self, prev: torch.Tensor, t0: int) -> torch.Tensor:
        # prev (B, L): the values x_{t-1} for positions t0..t0+L-1 (ignored at t = 0).
        e = self.value_embed(prev.unsqueeze(-1))
        if t0 == 0:
            e = torch.cat([self.start.expand(e.shape[0], 1, -1), e[:, 1:]], 1)
        return e + self.pos_embed[t0 : t0 + prev.shape[1]]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, *x_shape)`` of every conditional from ``x (B, *x_shape)``."""
        xs = self.head.input_scale(x).reshape(x.shape[0], -1)
        prev = torch.nn.functional.pad(xs, (1, 0))[:, :-1]
        out = self.out(self.transformer(self._embed(prev, 0)))  # (B, D, P)
        return out.transpose(1, 2).reshape(x.shape[0], self.head.params_per_value, *self.x_shape)

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        n = x.shape[0]
        flat = x.view(n, -1)
        d = flat.shape[1]
        caches = self.transformer.init_cache(n, d)
        prev = x.new_zeros(n, 1)
        for t in range(d):
            h = self.transformer.step(self._embed(prev, t), caches, t)
            flat[:, t] = self.head.sample(self.out(h[:, 0]), noise[:, t])
            prev = self.head.input_scale(flat[:, t : t + 1])
        return x
