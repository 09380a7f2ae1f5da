r"""Reversible residual networks (RevNet) that rebuild activations instead of storing them.

A RevNet block splits its input along dimension 1 into halves ``(x1, x2)`` and computes

    y1 = x1 + F(x2),    y2 = x2 + G(y1),

whose inverse is ``x2 = y2 - G(y1)``, ``x1 = y1 - F(x2)``. Since every block's input can be
recomputed from its output, backpropagation need not keep the activations of a stack of
blocks: :class:`ReversibleSequence` saves only the stack's output and, going backwards block
by block, rebuilds each input and recomputes ``F`` and ``G`` to obtain the gradients
(Gomez et al., Algorithm 1). The memory held for the backward pass is then constant in the
depth, at the price of about one more forward pass of every ``F`` and ``G``.
:class:`ResidualNetwork` is the ordinary residual stack ``x + H(x)`` of the same depth and
width, for comparison, and :func:`saved_tensor_bytes` measures what autograd keeps.

References:
    The Reversible Residual Network: Backpropagation Without Storing Activations,
    A. N. Gomez, M. Ren, R. Urtasun, R. B. Grosse, 2017, section 3 and Algorithm 1.
    https://arxiv.org/abs/1707.04585
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from pyrogen.nn.mlp import MLP, activation

_KINDS = ("conv", "mlp")


def _function(kind: str, width: int, hidden: int, act: str) -> nn.Module:
    """A residual function ``width -> hidden -> width`` (3x3 convolutions or linear layers)."""
    if kind == "conv":
        return nn.Sequential(
            nn.Conv2d(width, hidden, 3, padding=1),
            activation(act),
            nn.Conv2d(hidden, width, 3, padding=1),
        )
    if kind == "mlp":
        return MLP(width, (hidden,), width, act)
    raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")


def _check_input(x: torch.Tensor, channels: int, kind: str, name: str) -> None:
    dims = 4 if kind == "conv" else 2
    if x.dim() != dims or x.shape[1] != channels:
        shape = f"(B, {channels}, H, W)" if kind == "conv" else f"(B, {channels})"
        raise ValueError(f"{name} expects inputs of shape {shape}, got {tuple(x.shape)}")


class ReversibleBlock(nn.Module):
    r"""One RevNet block ``y1 = x1 + F(x2)``, ``y2 = x2 + G(y1)`` with its exact inverse.

    ``F`` and ``G`` map a half to a tensor of the same shape. They must be deterministic
    functions of their input (no dropout, no batch statistics that change between calls),
    since the memory-saving backward pass recomputes them.

    Args:
        f: the residual function F.
        g: the residual function G.

    References:
        The Reversible Residual Network: Backpropagation Without Storing Activations,
        A. N. Gomez, M. Ren, R. Urtasun, R. B. Grosse, 2017, section 3.
        https://arxiv.org/abs/1707.04585
    """

    def __init__(self, f: nn.Module, g: nn.Module):
        super().__init__()
        self.f, self.g = f, g

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x1, x2) -> (y1, y2)``; both halves ``(B, ...)`` of the shape F and G accept."""
        y1 = x1 + self.f(x2)
        return y1, x2 + self.g(y1)

    def inverse(self, y1: torch.Tensor, y2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y1, y2) -> (x1, x2)``: ``x2 = y2 - G(y1)``, then ``x1 = y1 - F(x2)``."""
        x2 = y2 - self.g(y1)
        return y1 - self.f(x2), x2

    def reverse_step(
        self, y1: torch.Tensor, y2: torch.Tensor, dy1: torch.Tensor, dy2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        r"""Rebuilds the block's input from its output and backpropagates through it.

        Gomez et al., Algorithm 1, with ``z1 = y1``: ``x2 = y2 - G(z1)``, ``x1 = z1 - F(x2)``,
        ``dz1 = dy1 + (dG/dz1)^T dy2``, ``dx2 = dy2 + (dF/dx2)^T dz1``, ``dx1 = dz1``,
        ``dw_F = (dF/dw_F)^T dz1``, ``dw_G = (dG/dw_G)^T dy2``.

        Args:
            y1, y2: the block's outputs (no graph needed).
            dy1, dy2: gradients of the loss with respect to them, same shapes.

        Returns:
            ``(x1, x2, dx1, dx2, grads)`` with ``grads`` the parameter gradients keyed by
            ``id(parameter)`` (summed where F and G share a parameter).
        """
        grads: dict[int, torch.Tensor] = {}
        y1, y2 = y1.detach(), y2.detach()
        with torch.enable_grad():
            z1 = y1.requires_grad_(True)
            g_out = self.g(z1)
        dz1, w_g = _grad(g_out, z1, self.g.parameters(), dy2)
        dz1 = dy1 + dz1
        _accumulate(grads, w_g)
        with torch.enable_grad():
            x2 = (y2 - g_out.detach()).requires_grad_(True)
            f_out = self.f(x2)
        dx2, w_f = _grad(f_out, x2, self.f.parameters(), dz1)
        _accumulate(grads, w_f)
        x1 = y1.detach() - f_out.detach()
        return x1, x2.detach(), dz1, dy2 + dx2, grads


def _grad(
    out: torch.Tensor, inp: torch.Tensor, params: Iterable[nn.Parameter], grad_out: torch.Tensor
) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor | None]]]:
    """Vector-Jacobian products of ``out`` with ``grad_out`` for ``inp`` and ``params``."""
    trainable = [p for p in params if p.requires_grad]
    d_inp, *d_params = torch.autograd.grad(out, [inp, *trainable], grad_out, allow_unused=True)
    d_inp = torch.zeros_like(inp) if d_inp is None else d_inp
    return d_inp, [(id(p), g) for p, g in zip(trainable, d_params)]


def _accumulate(
    grads: dict[int, torch.Tensor], pairs: Iterable[tuple[int, torch.Tensor | None]]
) -> None:
    """Adds each ``(id(parameter), gradient)`` into ``grads`` (shared parameters add up)."""
    for key, g in pairs:
        if g is not None:
            grads[key] = grads[key] + g if key in grads else g


class _Reconstructing(torch.autograd.Function):
    """Runs a stack of blocks keeping only its output; the backward rebuilds the rest."""

    @staticmethod
    def forward(ctx: Any, x1: torch.Tensor, x2: torch.Tensor, blocks: Any, *params: Any) -> Any:
        # Autograd is off inside forward: F and G keep nothing, intermediates are freed.
        for block in blocks:
            x1, x2 = block(x1, x2)
        ctx.blocks, ctx.params = blocks, params
        ctx.save_for_backward(x1, x2)
        return x1, x2

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dy1: torch.Tensor, dy2: torch.Tensor) -> Any:
        y1, y2 = ctx.saved_tensors
        grads: dict[int, torch.Tensor] = {}
        for block in reversed(ctx.blocks):
            y1, y2, dy1, dy2, block_grads = block.reverse_step(y1, y2, dy1, dy2)
            _accumulate(grads, block_grads.items())
        return (dy1, dy2, None, *(grads.get(id(p)) for p in ctx.params))


class ReversibleSequence(nn.Module):
    r"""A stack of :class:`ReversibleBlock` on ``x = (x1, x2)`` split along dimension 1.

    With ``memory_saving=True`` (default) and gradients enabled, the stack runs inside one
    autograd function that stores only its output: the backward pass rebuilds each block's
    input from its output and recomputes F and G (Gomez et al., Algorithm 1). The gradients
    are those of ordinary backpropagation up to the rounding of the reconstruction (which
    grows with depth in float32; exact to about 1e-12 in float64). This backward pass is
    first order: differentiating it again (double backward) raises an error; use
    ``memory_saving=False`` for that, which runs ordinary autograd through the same blocks.

    Args:
        blocks: the blocks, at least one.
        memory_saving: rebuild activations in the backward pass instead of storing them.

    Shapes:
        ``(B, C, ...)`` -> ``(B, C, ...)`` with C even; each half ``(B, C/2, ...)`` is what
        the blocks' F and G take.

    References:
        The Reversible Residual Network: Backpropagation Without Storing Activations,
        A. N. Gomez, M. Ren, R. Urtasun, R. B. Grosse, 2017, Algorithm 1.
        https://arxiv.org/abs/1707.04585
    """

    def __init__(self, blocks: Sequence[ReversibleBlock], memory_saving: bool = True):
        super().__init__()
        if len(blocks) == 0:
            raise ValueError("ReversibleSequence needs at least one block, got none")
        self.blocks = nn.ModuleList(blocks)
        self.memory_saving = memory_saving

    def _halves(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if v.dim() < 2 or v.shape[1] % 2:
            raise ValueError(
                f"{type(self).__name__} splits dimension 1 into halves and needs inputs "
                f"(B, C, ...) with C even, got {tuple(v.shape)}"
            )
        x1, x2 = v.chunk(2, dim=1)
        return x1, x2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self._halves(x)
        if self.memory_saving and torch.is_grad_enabled():
            params = [p for p in self.parameters() if p.requires_grad]
            x1, x2 = _Reconstructing.apply(x1, x2, tuple(self.blocks), *params)
        else:
            for block in self.blocks:
                x1, x2 = block(x1, x2)
        return torch.cat([x1, x2], dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The input ``x`` whose output is ``y``, block by block from the last."""
        y1, y2 = self._halves(y)
        blocks = cast(list[ReversibleBlock], list(self.blocks))
        for block in reversed(blocks):
            y1, y2 = block.inverse(y1, y2)
        return torch.cat([y1, y2], dim=1)


class RevNet(ReversibleSequence):
    r"""RevNet of ``depth`` blocks whose F and G are ``C/2 -> hidden -> C/2`` networks.

    ``kind="conv"``: F and G are two 3x3 convolutions (padding 1) with an activation between;
    ``kind="mlp"``: one hidden linear layer. Without batch normalization, so F and G are
    deterministic and the rebuilt activations equal the stored ones.

    Args:
        channels: C, even (features for ``"mlp"``).
        depth: number of blocks.
        hidden: hidden width of F and G.
        kind: ``"conv"`` for ``(B, C, H, W)`` inputs or ``"mlp"`` for ``(B, C)``.
        act: activation name.
        memory_saving: see :class:`ReversibleSequence`.

    Example:
        >>> import torch
        >>> from pyrogen.nn import RevNet
        >>> _ = torch.manual_seed(0)
        >>> net = RevNet(4, depth=3, hidden=8, kind="mlp").double()
        >>> x = torch.randn(2, 4, dtype=torch.float64)
        >>> bool((net.inverse(net(x)) - x).abs().max() < 1e-12)
        True

    References:
        The Reversible Residual Network: Backpropagation Without Storing Activations,
        A. N. Gomez, M. Ren, R. Urtasun, R. B. Grosse, 2017, section 3.
        https://arxiv.org/abs/1707.04585
    """

    def __init__(
        self,
        channels: int,
        depth: int,
        hidden: int,
        kind: str = "conv",
        act: str = "relu",
        memory_saving: bool = True,
    ):
        if channels < 2 or channels % 2:
            raise ValueError(f"RevNet needs an even number of channels >= 2, got {channels}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        half = channels // 2
        blocks = [
            ReversibleBlock(_function(kind, half, hidden, act), _function(kind, half, hidden, act))
            for _ in range(depth)
        ]
        super().__init__(blocks, memory_saving)
        self.channels, self.kind = channels, kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.channels, self.kind, "RevNet")
        return super().forward(x)


class ResidualNetwork(nn.Module):
    r"""Plain residual stack ``x_{l+1} = x_l + H_l(x_l)``, ``H_l: C -> hidden -> C``.

    The baseline for :class:`RevNet` at the same depth, width and (up to biases) number of
    parameters and operations: one RevNet block applies two ``C/2``-wide functions where this
    applies one ``C``-wide function. Backpropagation stores every block's activations.

    Args:
        channels: C.
        depth: number of residual blocks.
        hidden: hidden width of each H.
        kind: ``"conv"`` for ``(B, C, H, W)`` inputs or ``"mlp"`` for ``(B, C)``.
        act: activation name.

    References:
        Deep Residual Learning for Image Recognition, K. He, X. Zhang, S. Ren, J. Sun, 2015,
        eq. (1). https://arxiv.org/abs/1512.03385
    """

    def __init__(
        self, channels: int, depth: int, hidden: int, kind: str = "conv", act: str = "relu"
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.functions = nn.ModuleList(_function(kind, channels, hidden, act) for _ in range(depth))
        self.channels, self.kind = channels, kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.channels, self.kind, "ResidualNetwork")
        for h in self.functions:
            x = x + h(x)
        return x


def saved_tensor_bytes(
    fn: Callable[[], torch.Tensor], exclude: Iterable[torch.Tensor] = ()
) -> tuple[torch.Tensor, int]:
    """Runs ``fn()`` and counts the bytes autograd saves for its backward pass.

    Every tensor that the graph of ``fn()``'s result saves passes through a
    :func:`torch.autograd.graph.saved_tensors_hooks` pack hook; distinct storages are counted
    once (a tensor saved by two operations, or views of one tensor, are not double counted).
    Storages of ``exclude`` (e.g. ``module.parameters()``, which exist anyway) are left out,
    so with parameters excluded the count is the activation memory of the backward pass.

    Args:
        fn: computes a tensor with a graph (e.g. ``lambda: loss(net(x))``).
        exclude: tensors whose storages are not counted.

    Returns:
        ``(result of fn(), bytes)``; keep the result alive as long as the graph is needed.

    Example:
        >>> import torch
        >>> from pyrogen.nn import saved_tensor_bytes
        >>> x = torch.zeros(1000, requires_grad=True)
        >>> _, n = saved_tensor_bytes(lambda: x.exp().sum())  # exp saves its float32 output
        >>> n
        4000
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())
