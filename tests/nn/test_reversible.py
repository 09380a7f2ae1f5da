"""RevNet: exact inverse, the memory-saving backward equals autograd, constant saved memory."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyrogen.nn import (
    MLP,
    ResidualNetwork,
    ReversibleBlock,
    ReversibleSequence,
    RevNet,
    saved_tensor_bytes,
)

SHAPES = {"mlp": (5, 6), "conv": (2, 4, 5, 5)}


def _perturbed(net: nn.Module) -> nn.Module:
    """Moves the parameters away from the default initialization, so every term matters."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net


def _revnet(kind: str, depth: int = 4) -> RevNet:
    torch.manual_seed(0)
    net = RevNet(SHAPES[kind][1], depth=depth, hidden=7, kind=kind, act="tanh")
    return _perturbed(net.double())  # type: ignore[return-value]


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_inverse_round_trip_float64(kind):
    net = _revnet(kind)
    x = torch.randn(SHAPES[kind], dtype=torch.float64)
    with torch.no_grad():
        y = net(x)
        assert (net.inverse(y) - x).abs().max() < 1e-12
        # Fresh points of the output space, not produced by a forward call.
        y_fresh = 2 * torch.randn_like(x)
        assert (net(net.inverse(y_fresh)) - y_fresh).abs().max() < 1e-12
    assert (y - x).abs().max() > 0.1  # not the identity


def test_block_follows_the_revnet_equations():
    torch.manual_seed(0)
    f, g = MLP(3, (5,), 3).double(), MLP(3, (5,), 3).double()
    block = ReversibleBlock(f, g)
    x1, x2 = torch.randn(2, 4, 3, dtype=torch.float64)
    y1, y2 = block(x1, x2)
    # Gomez et al., section 3, written out independently of the block.
    expected_y1 = x1 + f(x2)
    torch.testing.assert_close(y1, expected_y1, rtol=0, atol=0)
    torch.testing.assert_close(y2, x2 + g(expected_y1), rtol=0, atol=0)
    back1, back2 = block.inverse(y1, y2)
    torch.testing.assert_close(back1, x1, rtol=0, atol=1e-14)
    torch.testing.assert_close(back2, x2, rtol=0, atol=1e-14)


def _grads(net: nn.Module, x: torch.Tensor, w: torch.Tensor, memory_saving: bool):
    net.memory_saving = memory_saving
    x = x.clone().requires_grad_(True)
    y = net(x)
    # A loss through a nonlinearity, so the incoming gradient varies with y.
    loss = (w * y).sum() + y.sin().square().sum()
    return y.detach(), torch.autograd.grad(loss, [x, *net.parameters()])


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_memory_saving_gradients_equal_autograd(kind):
    net = _revnet(kind, depth=5)
    x = torch.randn(SHAPES[kind], dtype=torch.float64)
    w = torch.randn(SHAPES[kind], dtype=torch.float64)
    y_saving, saving = _grads(net, x, w, True)
    y_plain, plain = _grads(net, x, w, False)
    torch.testing.assert_close(y_saving, y_plain, rtol=0, atol=0)
    assert len(saving) == 1 + len(list(net.parameters()))
    for a, b in zip(saving, plain):
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_backward_into_grad_attributes_and_shared_parameters():
    """``loss.backward()`` fills ``.grad``; a module used by every block gets the sum."""
    torch.manual_seed(1)
    shared = MLP(2, (6,), 2, act="tanh").double()
    blocks = [ReversibleBlock(shared, MLP(2, (6,), 2, act="tanh").double()) for _ in range(3)]
    net = _perturbed(ReversibleSequence(blocks))
    x = torch.randn(4, 4, dtype=torch.float64)
    w = torch.randn(4, 4, dtype=torch.float64)
    grads = {}
    for saving in (True, False):
        net.zero_grad(set_to_none=True)
        net.memory_saving = saving
        (w * net(x)).sum().backward()
        grads[saving] = {n: p.grad.clone() for n, p in net.named_parameters()}
    assert set(grads[True]) == set(grads[False])
    for name in grads[False]:
        torch.testing.assert_close(grads[True][name], grads[False][name], rtol=1e-10, atol=1e-12)


def test_memory_saving_backward_passes_gradcheck():
    """Finite differences, independent of autograd through the blocks."""
    net = _revnet("mlp", depth=3)
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: net(v).sin(), (x,))


def test_double_backward_is_refused_with_memory_saving_and_works_without():
    net = _revnet("mlp", depth=2)
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(net(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()
    net.memory_saving = False
    (g,) = torch.autograd.grad(net(x).square().sum(), x, create_graph=True)
    g.sum().backward()
    assert x.grad is not None and x.grad.abs().max() > 0


def test_saved_tensor_bytes_counts_what_autograd_keeps():
    x = torch.randn(100, requires_grad=True)
    w = nn.Parameter(torch.randn(100))
    assert saved_tensor_bytes(lambda: x.exp().sum())[1] == 400  # exp saves its output
    assert saved_tensor_bytes(lambda: (x * w).sum())[1] == 800  # mul saves both factors
    assert saved_tensor_bytes(lambda: (x * w).sum(), exclude=[w])[1] == 400
    # Two views of one storage, both saved: counted once.
    a = torch.randn(2, 50, requires_grad=True)
    assert saved_tensor_bytes(lambda: (a[0] * a[1]).sum())[1] == 400
    assert saved_tensor_bytes(lambda: (x + w).sum())[1] == 0  # addition saves nothing


def _saved(net: nn.Module, x: torch.Tensor) -> int:
    return saved_tensor_bytes(lambda: net(x).square().sum(), exclude=net.parameters())[1]


def test_saved_activations_do_not_grow_with_depth():
    x = torch.randn(4, 8, 6, 6)
    torch.manual_seed(0)
    nets = {
        "residual": lambda d: ResidualNetwork(8, d, 12),
        "revnet_autograd": lambda d: RevNet(8, d, 12, memory_saving=False),
        "revnet": lambda d: RevNet(8, d, 12),
    }
    saved = {name: (_saved(make(2), x), _saved(make(8), x)) for name, make in nets.items()}
    # Ordinary backpropagation stores every block's activations: 4x the blocks, about 4x
    # the bytes (the output and the loss's saved tensor are shared by both depths).
    for name in ("residual", "revnet_autograd"):
        shallow, deep = saved[name]
        assert deep > 3 * shallow, (name, saved[name])
    # The reconstructing backward stores only the stack's output (and the loss its input).
    shallow, deep = saved["revnet"]
    assert shallow == deep == 2 * x.numel() * x.element_size()


def test_no_grad_and_memory_saving_give_the_same_output():
    net = _revnet("conv")
    x = torch.randn(SHAPES["conv"], dtype=torch.float64)
    with torch.no_grad():
        y0 = net(x)
    torch.testing.assert_close(net(x), y0, rtol=0, atol=0)


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="even number of channels"):
        RevNet(3, depth=2, hidden=4)
    with pytest.raises(ValueError, match="depth must be at least 1"):
        RevNet(4, depth=0, hidden=4)
    with pytest.raises(ValueError, match="kind must be one of"):
        RevNet(4, depth=1, hidden=4, kind="lstm")
    with pytest.raises(ValueError, match=r"expects inputs of shape \(B, 4, H, W\)"):
        RevNet(4, depth=1, hidden=4)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="at least one block"):
        ReversibleSequence([])
    seq = ReversibleSequence([ReversibleBlock(nn.Identity(), nn.Identity())])
    with pytest.raises(ValueError, match=r"C even, got \(2, 3\)"):
        seq(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(B, 6\)"):
        ResidualNetwork(6, 2, 4, kind="mlp")(torch.randn(2, 5))
