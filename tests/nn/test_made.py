import pytest
import torch

from pyrogen.nn import AutoregressiveNN, MaskedLinear, made_masks


def _dependency(net, dim, context=None):
    """dep[p, i, j] = |d out[p, i] / d x_j| summed over random inputs."""
    x = torch.randn(dim, requires_grad=True)
    jac = torch.autograd.functional.jacobian(lambda v: net(v, context), x)  # (P, D, D)
    return jac.abs()


@pytest.mark.parametrize("order", [None, [3, 1, 4, 2, 5]])
def test_autoregressive_by_gradient(order):
    torch.manual_seed(0)
    net = AutoregressiveNN(5, hidden=(12, 12), num_params=2, order=order, act="tanh")
    deg = torch.arange(1, 6) if order is None else torch.tensor(order)
    dep = _dependency(net, 5)
    allowed = deg[None, :] < deg[:, None]  # (i, j): x_j precedes x_i
    assert (dep[:, ~allowed] == 0).all()
    # Every allowed connection exists (the masks do not over-prune).
    assert (dep[:, allowed] > 0).all()


def test_context_reaches_every_output_without_breaking_causality():
    torch.manual_seed(0)
    net = AutoregressiveNN(3, hidden=(8,), context_dim=2, act="tanh")
    ctx = torch.randn(2, requires_grad=True)
    x = torch.randn(3)
    jac_ctx = torch.autograd.functional.jacobian(lambda c: net(x, c), ctx)  # (P, D, C)
    assert (jac_ctx.abs().sum(-1) > 0).all()
    dep = _dependency(net, 3, ctx.detach())
    assert (dep[:, torch.triu(torch.ones(3, 3, dtype=torch.bool))] == 0).all()


def test_masked_linear_applies_mask_and_checks_shape():
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    layer = MaskedLinear(2, 3, mask)
    jac = torch.autograd.functional.jacobian(layer, torch.randn(2))
    assert torch.equal(jac == 0, mask == 0) or torch.equal((jac != 0).float(), mask)
    with pytest.raises(
        ValueError, match=r"mask must have shape \(3, 2\) or \(M, 3, 2\), got \(2, 3\)"
    ):
        MaskedLinear(2, 3, mask.T)
    with pytest.raises(ValueError, match="permutation of 1..3"):
        AutoregressiveNN(3, order=[0, 1, 2])


def test_one_weight_serves_several_masks():
    """Order-agnostic MADE: mask k selects the connectivity, the weight is shared."""
    masks = torch.stack([torch.eye(3), torch.ones(3, 3).tril()])
    layer = MaskedLinear(3, 3, masks)
    for k in range(2):
        jac = torch.autograd.functional.jacobian(lambda v, k=k: layer(v, k), torch.randn(3))
        assert torch.equal(jac != 0, masks[k] != 0)


@pytest.mark.parametrize("degrees", ["random", "cyclic"])
def test_made_masks_connect_exactly_the_earlier_inputs(degrees):
    """Paths from input j to output i exist iff j comes before i in the ordering (cyclic
    degrees: every such path; random: the dependency structure never breaks causality)."""
    g = torch.Generator().manual_seed(3)
    order = torch.randperm(6, generator=g)
    masks = made_masks(order, [10, 10], g, degrees=degrees)
    paths = masks[0]
    for m in masks[1:]:
        paths = m @ paths  # (out, in): the number of paths
    rank = order.argsort()
    earlier = rank[None, :] < rank[:, None]
    assert (paths[~earlier] == 0).all()
    if degrees == "cyclic":
        assert (paths[earlier] > 0).all()
