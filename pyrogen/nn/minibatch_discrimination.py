r"""Minibatch discrimination (Salimans et al. 2016, Sec. 3.2): a critic layer that sees the batch.

A critic that scores each example on its own cannot tell a generator that puts every sample
on one good point from one that covers the data. Minibatch discrimination appends to each
example's features ``f(x_i) in R^A`` how many *close neighbours* it has in its batch::

    M_i = f(x_i)^T T                       in R^{B x C},  T in R^{A x B x C}
    c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1)          (L1 over the C entries of row b)
    o(x_i)_b = sum_{j=1}^n c_b(x_i, x_j)                   (b = 1..B)
    output_i = [f(x_i), o(x_i)]            in R^{A + B}

A collapsed generator produces batches whose examples are all close, so every ``o(x_i)_b``
is near its maximum ``n``; a batch of diverse data gives values near 1 (the self term). The
critic can then penalise batches that lack diversity, and the generator's gradient pushes its
samples apart.

The sum runs over the whole batch, ``j = i`` included, as in the paper: the self term adds
the constant ``c_b(x_i, x_i) = exp(0) = 1``. ``include_self=False`` leaves it out (the
statistic then counts the *other* examples close to ``x_i``, from 0 to ``n - 1``). The paper
computes the features separately for a batch of data and a batch of samples, which is what
:class:`~pyrogen.infer.AdversarialSVI` does (it calls the critic on each batch in turn).

Because the output of an example depends on the other examples of its batch, a critic with
this layer is not a per-example function: like batch norm it does not go with a per-example
gradient penalty (WGAN-GP).

References:
    Improved Techniques for Training GANs, T. Salimans, I. Goodfellow, W. Zaremba,
    V. Cheung, A. Radford, X. Chen, 2016, Sec. 3.2. https://arxiv.org/abs/1606.03498
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    r"""``[f(x_i), o(x_i)]`` with ``o(x_i)_b = sum_j exp(-||M_{i,b} - M_{j,b}||_1)``, ``M = f T``.

    Args:
        in_features: A, the size of the features ``f(x)``.
        num_kernels: B, the number of closeness statistics appended to each example.
        kernel_dim: C, the size of each row ``M_{i,b}``.
        include_self: count ``j = i`` in the sum (the paper; adds 1 to every statistic).

    Shapes:
        ``forward(f (n, A)) -> (n, A + B)``; ``statistics(f (n, A)) -> (n, B)``.

    ``T`` is drawn from ``N(0, 1/A)``, so that each entry of ``M_i - M_j`` has the spread of
    ``||f_i - f_j|| / sqrt(A)`` at the start of training and the kernels are neither all 0
    nor all 1 for features of unit scale.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> layer = MinibatchDiscrimination(in_features=4, num_kernels=3, kernel_dim=2)
        >>> f = torch.randn(1, 4).expand(5, 4)  # five identical examples
        >>> layer.statistics(f).detach()
        tensor([[5., 5., 5.],
                [5., 5., 5.],
                [5., 5., 5.],
                [5., 5., 5.],
                [5., 5., 5.]])
        >>> layer(f).shape
        torch.Size([5, 7])

    References:
        Improved Techniques for Training GANs, T. Salimans et al., 2016, Sec. 3.2.
        https://arxiv.org/abs/1606.03498
    """

    def __init__(
        self,
        in_features: int,
        num_kernels: int,
        kernel_dim: int,
        include_self: bool = True,
    ):
        super().__init__()
        for name, value in (
            ("in_features", in_features),
            ("num_kernels", num_kernels),
            ("kernel_dim", kernel_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.in_features = in_features
        self.num_kernels = num_kernels
        self.kernel_dim = kernel_dim
        self.include_self = bool(include_self)
        self.out_features = in_features + num_kernels
        self.T = nn.Parameter(
            torch.randn(in_features, num_kernels, kernel_dim) / math.sqrt(in_features)
        )

    def statistics(self, f: torch.Tensor) -> torch.Tensor:
        """The closeness statistics ``o(x_i)_b`` of a batch of features, ``(n, B)``."""
        if f.dim() != 2 or f.shape[1] != self.in_features:
            raise ValueError(
                f"minibatch discrimination expects features of shape (batch, "
                f"{self.in_features}), got {tuple(f.shape)}"
            )
        m = torch.einsum("na,abc->bnc", f, self.T)  # (B, n, C): row b of every M_i
        # cdist per kernel b, never materialising the (n, n, B, C) differences.
        l1 = torch.cdist(m, m, p=1.0)  # (B, n, n): ||M_i,b - M_j,b||_1
        o = torch.exp(-l1).sum(-1).T  # (n, B): sum over j
        # The self term is exp(0) = 1 exactly, whatever T is.
        return o if self.include_self else o - 1.0

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, self.statistics(f)], dim=-1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_kernels={self.num_kernels}, "
            f"kernel_dim={self.kernel_dim}, include_self={self.include_self}"
        )
