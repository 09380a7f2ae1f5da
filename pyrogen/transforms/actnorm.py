r"""Activation normalization ``y = x exp(s) + b`` per feature (channel), with data-dependent
initialization.

``log |det dy/dx| = (H W) sum_c s_c`` for images ``(C, H, W)`` and ``sum_c s_c`` for vectors.
On the first inverse call in training mode (data to base direction, as in
``TransformedDistribution.log_prob``) the parameters are set from the batch so that the
inverse outputs have zero mean and unit variance per feature.

References:
    Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal, 2018,
    section 3.1 and table 1 (actnorm). https://arxiv.org/abs/1807.03039
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import constraints

from pyrogen.transforms.base import FlowTransform


class ActNorm(FlowTransform):
    r"""Per-feature affine map ``y = x exp(log_scale) + bias``.

    Args:
        num_features: D for vectors ``(..., D)`` or C for images ``(..., C, H, W)``.
        event_dim: 1 (vectors) or 3 (images; one scale and bias per channel).
        data_init: initialize from the first batch seen by ``_inverse`` in training mode.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import ActNorm
        >>> f = ActNorm(2)
        >>> data = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
        >>> f.inv(data)  # first call: the statistics of the batch become the parameters
        tensor([[-1., -1.],
                [ 1.,  1.]], grad_fn=<MulBackward0>)

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal,
        2018, table 1, row "Actnorm". https://arxiv.org/abs/1807.03039
    """

    bijective = True

    def __init__(
        self, num_features: int, event_dim: int = 1, data_init: bool = True, cache_size: int = 0
    ):
        super().__init__(cache_size=cache_size)
        if event_dim not in (1, 3):
            raise ValueError(f"event_dim must be 1 (vectors) or 3 (images), got {event_dim}")
        self.num_features, self._event_dim = num_features, event_dim
        shape = (num_features,) if event_dim == 1 else (num_features, 1, 1)
        self.log_scale = nn.Parameter(torch.zeros(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.register_buffer("initialized", torch.tensor(not data_init))

    @property
    def domain(self):  # type: ignore[override]
        return constraints.independent(constraints.real, self._event_dim)

    @property
    def codomain(self):  # type: ignore[override]
        return constraints.independent(constraints.real, self._event_dim)

    def _check(self, v: torch.Tensor) -> None:
        k = self._event_dim
        if v.dim() < k or v.shape[v.dim() - k] != self.num_features:
            event = "D" if k == 1 else "C, H, W"
            raise ValueError(
                f"ActNorm({self.num_features}, event_dim={k}) expects (..., {event}) with "
                f"{self.num_features} features, got {tuple(v.shape)}"
            )

    @torch.no_grad()
    def initialize(self, y: torch.Tensor) -> None:
        """Sets ``bias``/``log_scale`` to the mean/log-std of data ``y`` per feature."""
        self._check(y)
        feat = y.dim() - self._event_dim
        dims = [d for d in range(y.dim()) if d != feat]
        mean = y.mean(dims)
        std = y.std(dims) if y.numel() // self.num_features > 1 else torch.ones_like(mean)
        self.bias.copy_(mean.reshape(self.bias.shape))
        self.log_scale.copy_(std.clamp_min(1e-6).log().reshape(self.log_scale.shape))
        self.initialized.fill_(True)

    def _spatial(self, v: torch.Tensor) -> int:
        return 1 if self._event_dim == 1 else v.shape[-1] * v.shape[-2]

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return x * self.log_scale.exp() + self.bias

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        if self.training and not bool(self.initialized):
            self.initialize(y)
        return (y - self.bias) * torch.exp(-self.log_scale)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        batch = x.shape[: x.dim() - self._event_dim]
        return (self.log_scale.sum() * self._spatial(x)).expand(batch)
