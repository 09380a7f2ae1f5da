r"""Coordinate permutation ``y = x[..., perm]``: volume preserving, ``log |det| = 0``.

Placed between autoregressive or coupling layers so each layer conditions on different
coordinates.

References:
    Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
    section 3.5 (alternating the coupling pattern). https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions import constraints

from pyrogen.transforms.base import FlowTransform, check_event


class Permutation(FlowTransform):
    r"""``y_i = x_{perm[i]}`` on R^D; the permutation is a buffer, saved with the module.

    Args:
        dim: D.
        permutation: a permutation of ``0..D-1``; default: drawn from torch's global RNG.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import Permutation
        >>> Permutation(3, permutation=[2, 0, 1])(torch.tensor([10.0, 20.0, 30.0]))
        tensor([30., 10., 20.])

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal,
        2018, section 3.2 (fixed permutations as the baseline). https://arxiv.org/abs/1807.03039
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    volume_preserving = True

    def __init__(
        self,
        dim: int,
        permutation: torch.Tensor | Sequence[int] | None = None,
        cache_size: int = 0,
    ):
        super().__init__(cache_size=cache_size)
        perm = torch.randperm(dim) if permutation is None else torch.as_tensor(permutation)
        if sorted(perm.tolist()) != list(range(dim)):
            raise ValueError(f"permutation must be a permutation of 0..{dim - 1}, got {perm}")
        self.dim = dim
        self.register_buffer("perm", perm.long())
        self.register_buffer("inv_perm", torch.argsort(perm).long())

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        check_event(x, (self.dim,), "Permutation")
        return x[..., self.perm]

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        check_event(y, (self.dim,), "Permutation")
        return y[..., self.inv_perm]

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[:-1])
