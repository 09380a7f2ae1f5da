import torch

from pyrogen.nn import CausalConv1d, CausalTransformer, made_masks


def test_causal_conv_reads_only_the_past_and_steps_match_the_full_pass():
    torch.manual_seed(0)
    for shift in (False, True):
        conv = CausalConv1d(2, 3, kernel_size=3, dilation=2, shift=shift).double()
        x = torch.randn(1, 2, 12, dtype=torch.float64, requires_grad=True)
        out = conv(x)
        out[0, :, 7].sum().backward()
        reads = (x.grad[0].abs().sum(0) > 0).nonzero()[:, 0].tolist()
        s = int(shift)
        assert reads == [7 - s - 4, 7 - s - 2, 7 - s]
        assert conv.reach == 4 + s
        buf = conv.init_state(1)
        xin = torch.nn.functional.pad(x.detach(), (1, 0))[..., :-1] if shift else x.detach()
        steps = torch.stack([conv.step(xin[:, :, t], buf, t) for t in range(12)], -1)
        assert torch.allclose(steps, out.detach())


def test_transformer_is_causal_and_cached_steps_match():
    torch.manual_seed(0)
    tr = CausalTransformer(16, 2, 2).double().eval()
    h = torch.randn(2, 7, 16, dtype=torch.float64, requires_grad=True)
    out = tr(h)
    # A random projection: the plain sum of a layer-normalized output is a constant, whose
    # gradient is rounding noise.
    (out[:, 3] * torch.randn(16, dtype=torch.float64)).sum().backward()
    assert (h.grad[:, 4:] == 0).all() and (h.grad[:, :4].abs().sum((0, 2)) > 0).all()
    caches = tr.init_cache(2, 7)
    steps = torch.cat([tr.step(h.detach()[:, t : t + 1], caches, t) for t in range(7)], 1)
    assert torch.allclose(steps, out.detach(), atol=1e-10)


def test_made_masks_are_autoregressive():
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(10, generator=g)
    masks = made_masks(order, [20, 20], g)
    conn = masks[0]
    for m in masks[1:]:
        conn = m @ conn  # (out, in): number of paths
    rank = torch.empty(10, dtype=torch.long)
    rank[order] = torch.arange(10)
    allowed = rank[:, None] > rank[None, :]
    assert (conn[~allowed] == 0).all()
    assert (conn[allowed] > 0).float().mean() > 0.9  # and most allowed paths exist
