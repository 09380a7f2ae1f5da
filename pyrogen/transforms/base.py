"""Shared plumbing of the learnable transforms: cache control and input checks."""

from __future__ import annotations

import copy
from typing import Any

import torch
from pyro.distributions.torch_transform import TransformModule


class CacheCopyMixin:
    """``with_cache`` that returns a shallow copy sharing the parameters (or tensors).

    ``torch.distributions.ComposeTransform(parts, cache_size=1)`` calls ``with_cache`` on
    every part; torch's default implementation only supports parameterless transforms.
    """

    _cache_size: int

    def with_cache(self, cache_size: int = 1) -> Any:
        if cache_size == self._cache_size:
            return self
        if cache_size not in (0, 1):
            raise ValueError(f"cache_size must be 0 or 1, got {cache_size}")
        # A shallow copy shares the parameter and buffer dicts, hence the parameters.
        other = copy.copy(self)
        other._cache_size = cache_size
        other._cached_x_y = None, None
        other._inv = None
        return other


class FlowTransform(CacheCopyMixin, TransformModule):
    """Base of pyrogen's learnable transforms: a Pyro ``TransformModule`` (a
    ``torch.distributions.Transform`` and an ``nn.Module``) with a parameter-sharing
    ``with_cache``."""


def check_event(x: torch.Tensor, event_shape: tuple[int, ...], name: str) -> None:
    """Raises ``ValueError`` unless ``x`` ends with ``event_shape``."""
    k = len(event_shape)
    if x.dim() < k or tuple(x.shape[x.dim() - k :]) != event_shape:
        shape = ", ".join(map(str, event_shape))
        raise ValueError(f"{name} expects inputs of shape (..., {shape}), got {tuple(x.shape)}")
