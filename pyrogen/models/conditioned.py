"""A conditional autoregressive model with its condition fixed: p(x | y) as a distribution."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

if TYPE_CHECKING:
    from pyrogen.models.autoregressive import AutoregressiveModel


class Conditioned(TorchDistribution):
    """p(x | y) of a conditional :class:`AutoregressiveModel`, batch shape ``(B,)``.

    Args:
        model: the conditional model.
        y: class labels ``(B,)`` or, for a model conditioned on a code grid, grids
            ``(B, h', w')``; the first dimension is the batch.
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, model: AutoregressiveModel, y: torch.Tensor):
        if y.dim() < 1:
            raise ValueError(f"y must have a batch dimension (B, ...), got {tuple(y.shape)}")
        self.model = model
        self.y = y
        super().__init__(y.shape[:1], torch.Size(model.x_shape), validate_args=False)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return self.model.support

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[: x.dim() - len(self.model.x_shape)]
        if lead[-1:] != self.y.shape[:1]:
            raise ValueError(
                f"x must have shape (..., {self.y.shape[0]}, *{self.model.x_shape}) to match "
                f"the labels, got {tuple(x.shape)}"
            )
        per_example = self.y.shape[1:]
        y = self.y.expand(*lead, *per_example).reshape(-1, *per_example)
        return self.model.log_prob(x.reshape(-1, *self.model.x_shape), y).reshape(lead)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:  # type: ignore[override]
        shape = tuple(sample_shape)
        y = self.y.expand(*shape, *self.y.shape).reshape(-1, *self.y.shape[1:])
        x = self.model.sample(y.shape[0], y=y)
        return x.reshape(*shape, *self.batch_shape, *self.model.x_shape)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        if batch_shape == self.batch_shape:
            return self
        return super().expand(batch_shape, _instance)

    def __repr__(self) -> str:
        return f"Conditioned({type(self.model).__name__}, batch_shape={tuple(self.batch_shape)})"


__all__ = ["Conditioned"]
