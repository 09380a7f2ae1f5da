r"""i-RevNet: a deep network that is invertible up to the last layer, as a flow transform.

An image ``x`` ``(C, H, W)`` is read as two channel halves ``(x1, x2)``. One i-RevNet block
computes

    y1 = S(x2),    y2 = S(x1) + F(x2),    y = (y1, y2),

with S the identity or the invertible 2x2 space-to-depth downsampling
(:class:`~pyrogen.transforms.Squeeze`, ``(c, H, W) -> (4c, H/2, W/2)``) and F a small
convolutional network (stride 2 in its first convolution when S downsamples). The halves trade
places in every block: the half F reads is passed on unchanged (up to S) as the next block's
first half, so the next block transforms it. The inverse is ``x2 = S^{-1}(y1)``,
``x1 = S^{-1}(y2 - F(x2))``. :class:`IRevNet` starts with one squeeze, so that even a
one-channel image splits into halves (the bijective i-RevNet), then stacks stages of blocks,
each stage after the first opening with a downsampling block.

The additive coupling has a unit-triangular Jacobian and S is a permutation of the
coordinates, so every block, and the network, is volume preserving: ``log|det J| = 0``.

Events are flat vectors ``(..., D)`` with ``D = C H W`` (the image read in row-major order).
A downsampling block keeps the number of entries but changes the image shape; on flat
vectors every transform here maps R^D to R^D, so it composes with the other transforms on
R^D (couplings, permutations, :class:`~pyrogen.models.FlowDensity`'s stacks), needs no shape
bookkeeping in ``TransformedDistribution``, and meets the transform contract unchanged. The
image layout of an output is ``out_shape``: ``y.reshape(*batch, *t.out_shape)``.

References:
    i-RevNet: Deep Invertible Networks, J.-H. Jacobsen, A. Smeulders, E. Oyallon, 2018,
    section 3. https://arxiv.org/abs/1802.07088
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.distributions import constraints

from pyrogen.nn.mlp import activation
from pyrogen.transforms.base import FlowTransform, check_event
from pyrogen.transforms.squeeze import Squeeze

# The space-to-depth permutation (pixel_unshuffle order), as a transform: S(v) and S^-1(v).
_SQUEEZE = Squeeze()


def _image_shape(shape: Sequence[int], name: str) -> tuple[int, int, int]:
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name} needs an image shape (C, H, W), got {tuple(shape)}")
    c, h, w = (int(s) for s in shape)
    return c, h, w


class IRevNetBlock(FlowTransform):
    r"""i-RevNet block ``y = (S(x2), S(x1) + F(x2))`` on images ``(C, H, W)`` stored flat.

    Volume preserving: ``log|det dy/dx| = 0`` (an additive coupling composed with the
    permutation S). Inputs are ``(..., D)`` with ``D = C H W``; with ``downsample=True`` the
    output is the ``(4C, H/2, W/2)`` image, flat, so still ``(..., D)``.

    Args:
        in_shape: the input image shape ``(C, H, W)``; C even, and H, W even if
            ``downsample``.
        hidden: channels of F's hidden layers.
        downsample: S is :class:`~pyrogen.transforms.Squeeze` (and F's first convolution
            has stride 2) instead of the identity.
        act: activation name inside F.
        cache_size: 1 remembers the last ``(x, y)`` pair; 0 (default) never does, since the
            parameters change between calls and a remembered pair would go stale.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import IRevNetBlock
        >>> _ = torch.manual_seed(0)
        >>> f = IRevNetBlock((4, 6, 6), hidden=8, downsample=True)
        >>> x = torch.randn(2, 4 * 6 * 6)
        >>> y = f(x)
        >>> f.out_shape, tuple(y.shape), f.log_abs_det_jacobian(x, y).tolist()
        ((16, 3, 3), (2, 144), [0.0, 0.0])
        >>> bool((f.inv(y.clone()) - x).abs().max() < 1e-5)
        True

    References:
        i-RevNet: Deep Invertible Networks, J.-H. Jacobsen, A. Smeulders, E. Oyallon, 2018,
        section 3. https://arxiv.org/abs/1802.07088
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    volume_preserving = True

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden: int = 32,
        downsample: bool = False,
        act: str = "relu",
        cache_size: int = 0,
    ):
        super().__init__(cache_size=cache_size)
        c, h, w = _image_shape(in_shape, "IRevNetBlock")
        if c % 2:
            raise ValueError(f"IRevNetBlock needs an even number of channels, got {c}")
        if downsample and (h % 2 or w % 2):
            raise ValueError(f"a downsampling block needs H and W even, got in_shape {(c, h, w)}")
        self.in_shape, self.downsample = (c, h, w), downsample
        self.out_shape = (4 * c, h // 2, w // 2) if downsample else (c, h, w)
        self.dim = c * h * w
        half = c // 2
        # i-RevNet's bottleneck F (conv-act-conv-act-conv), without batch normalization so
        # that examples stay independent and the inverse is exact in evaluation and training.
        self.f = nn.Sequential(
            nn.Conv2d(half, hidden, 3, stride=2 if downsample else 1, padding=1),
            activation(act),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            activation(act),
            nn.Conv2d(hidden, 4 * half if downsample else half, 3, padding=1),
        )

    def _s(self, v: torch.Tensor) -> torch.Tensor:
        return _SQUEEZE(v) if self.downsample else v

    def _s_inv(self, v: torch.Tensor) -> torch.Tensor:
        return _SQUEEZE.inv(v) if self.downsample else v

    def _f(self, v: torch.Tensor) -> torch.Tensor:
        """F on ``(..., C/2, H, W)`` with any batch shape (convolutions take one batch dim)."""
        out = self.f(v.reshape(-1, *v.shape[-3:]))
        return out.reshape(*v.shape[:-3], *out.shape[-3:])

    def _image_call(self, x: torch.Tensor) -> torch.Tensor:
        """The block on images: ``(..., C, H, W) -> (..., *out_shape)``."""
        x1, x2 = x.chunk(2, dim=-3)
        return torch.cat([self._s(x2), self._s(x1) + self._f(x2)], dim=-3)

    def _image_inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The inverse on images: ``(..., *out_shape) -> (..., C, H, W)``."""
        y1, y2 = y.chunk(2, dim=-3)
        x2 = self._s_inv(y1)
        return torch.cat([self._s_inv(y2 - self._f(x2)), x2], dim=-3)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        check_event(x, (self.dim,), "IRevNetBlock")
        y = self._image_call(x.reshape(*x.shape[:-1], *self.in_shape))
        return y.reshape(x.shape)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        check_event(y, (self.dim,), "IRevNetBlock")
        x = self._image_inverse(y.reshape(*y.shape[:-1], *self.out_shape))
        return x.reshape(y.shape)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[:-1])


class IRevNet(FlowTransform):
    r"""The bijective i-RevNet ``Phi = B_L o ... o B_1 o S`` on images stored flat.

    One squeeze turns ``(C, H, W)`` into ``(4C, H/2, W/2)``, split into halves of 2C channels;
    stage ``s`` has ``depths[s]`` :class:`IRevNetBlock` and every stage after the first
    starts with a downsampling block, so the representation is the ``(4^S C, H/2^S, W/2^S)``
    image (``out_shape``) for S stages. Inputs and outputs are ``(..., D)``, ``D = C H W``.
    Volume preserving: ``log|det J| = 0``, and ``Phi`` discards no information:
    ``Phi^{-1}(Phi(x)) = x`` up to rounding.

    Args:
        in_shape: the image shape ``(C, H, W)``; H and W divisible by ``2^S``.
        depths: blocks per stage (each at least 1).
        hidden: hidden channels of every F (a sequence gives one per stage).
        act: activation name inside F.
        cache_size: see :class:`IRevNetBlock`.

    Example:
        >>> import torch
        >>> from pyrogen.transforms import IRevNet
        >>> _ = torch.manual_seed(0)
        >>> phi = IRevNet((1, 28, 28), depths=(2, 2), hidden=16)
        >>> x = torch.rand(3, 784)
        >>> phi.out_shape, tuple(phi(x).shape)
        ((16, 7, 7), (3, 784))
        >>> bool((phi.inv(phi(x).clone()) - x).abs().max() < 1e-5)
        True

    References:
        i-RevNet: Deep Invertible Networks, J.-H. Jacobsen, A. Smeulders, E. Oyallon, 2018,
        section 3 (the bijective i-RevNet). https://arxiv.org/abs/1802.07088
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    volume_preserving = True

    def __init__(
        self,
        in_shape: Sequence[int],
        depths: Sequence[int] = (2, 2),
        hidden: int | Sequence[int] = 32,
        act: str = "relu",
        cache_size: int = 0,
    ):
        super().__init__(cache_size=cache_size)
        c, h, w = _image_shape(in_shape, "IRevNet")
        hiddens = [hidden] * len(depths) if isinstance(hidden, int) else list(hidden)
        if not depths or min(depths) < 1 or len(hiddens) != len(depths):
            raise ValueError(
                f"need one or more stages of at least one block and one hidden width per "
                f"stage, got depths={tuple(depths)}, hidden={hidden}"
            )
        stages = len(depths)
        if h % 2**stages or w % 2**stages:
            raise ValueError(
                f"{stages} stage(s) need H and W divisible by {2**stages}, got in_shape {(c, h, w)}"
            )
        self.in_shape, self.dim = (c, h, w), c * h * w
        blocks = []
        shape: tuple[int, int, int] = (4 * c, h // 2, w // 2)
        for stage, (depth, width) in enumerate(zip(depths, hiddens)):
            for i in range(depth):
                block = IRevNetBlock(shape, width, downsample=stage > 0 and i == 0, act=act)
                blocks.append(block)
                shape = block.out_shape
        self.blocks = nn.ModuleList(blocks)
        self.out_shape = shape

    def _block_list(self) -> list[IRevNetBlock]:
        return cast(list[IRevNetBlock], list(self.blocks))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        check_event(x, (self.dim,), "IRevNet")
        y = _SQUEEZE(x.reshape(*x.shape[:-1], *self.in_shape))
        for block in self._block_list():
            y = block._image_call(y)
        return y.reshape(x.shape)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        check_event(y, (self.dim,), "IRevNet")
        x = y.reshape(*y.shape[:-1], *self.out_shape)
        for block in reversed(self._block_list()):
            x = block._image_inverse(x)
        return _SQUEEZE.inv(x).reshape(y.shape)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[:-1])
