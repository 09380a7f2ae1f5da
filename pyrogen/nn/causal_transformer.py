r"""A small decoder-only (causal) transformer with a key-value cache for incremental decoding.

Pre-norm blocks h <- h + Attn(LN(h)), h <- h + MLP(LN(h)), with causal multi-head attention
softmax(Q K^T / sqrt(d_h) + M) V where M masks the future. :meth:`CausalTransformer.step`
processes one new position, appending its keys and values to a cache so that earlier
positions are never recomputed.

References:
    Attention Is All You Need, A. Vaswani et al., 2017, eq. (1), Section 3.2.3 (masking).
    https://arxiv.org/abs/1706.03762
    Language Models are Unsupervised Multitask Learners, A. Radford et al., 2019 (pre-norm
    decoder-only transformer).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention ``(B, T, d) -> (B, T, d)``."""

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def _heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, d = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, self.num_heads, d // self.num_heads).unbind(2)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # each (B, H, T, d_h)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(h)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(h.shape))

    def step(self, h_t: torch.Tensor, cache: dict[str, torch.Tensor], t: int) -> torch.Tensor:
        """Output at position ``t`` from ``h_t (B, 1, d)``; writes its key/value into ``cache``."""
        q, k, v = self._heads(h_t)
        cache["k"][:, :, t : t + 1] = k
        cache["v"][:, :, t : t + 1] = v
        out = F.scaled_dot_product_attention(
            q, cache["k"][:, :, : t + 1], cache["v"][:, :, : t + 1]
        )
        return self.proj(out.transpose(1, 2).reshape(h_t.shape))


class TransformerBlock(nn.Module):
    """Pre-norm block: attention then a 4x-wide GELU MLP, both residual."""

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, num_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.ln1(h))
        return h + self.mlp(self.ln2(h))

    def step(self, h_t: torch.Tensor, cache: dict[str, torch.Tensor], t: int) -> torch.Tensor:
        h_t = h_t + self.attn.step(self.ln1(h_t), cache, t)
        return h_t + self.mlp(self.ln2(h_t))


class CausalTransformer(nn.Module):
    """Stack of :class:`TransformerBlock` and a final LayerNorm: ``(B, T, d) -> (B, T, d)``,
    where output t depends on inputs 0..t only.

    Args:
        d_model: width.
        num_heads: attention heads.
        num_layers: blocks.
    """

    def __init__(self, d_model: int = 64, num_heads: int = 4, num_layers: int = 2):
        super().__init__()
        self.d_model = d_model
        self.num_heads = num_heads
        self.blocks = nn.ModuleList(TransformerBlock(d_model, num_heads) for _ in range(num_layers))
        self.ln = nn.LayerNorm(d_model)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h)
        return self.ln(h)

    def init_cache(self, batch: int, length: int) -> list[dict[str, torch.Tensor]]:
        """Empty key/value caches, one per block, each ``(B, H, length, d_h)``."""
        p = next(self.parameters())
        shape = (batch, self.num_heads, length, self.d_model // self.num_heads)
        return [{"k": p.new_zeros(shape), "v": p.new_zeros(shape)} for _ in self.blocks]

    def step(
        self, h_t: torch.Tensor, caches: list[dict[str, torch.Tensor]], t: int
    ) -> torch.Tensor:
        """Output at position ``t`` (``(B, 1, d)``), reading the cached earlier positions."""
        for block, cache in zip(self.blocks, caches):
            h_t = cast(TransformerBlock, block).step(h_t, cache, t)
        return self.ln(h_t)
