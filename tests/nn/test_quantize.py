import pytest
import torch

from pyrogen.nn import VectorQuantizer


def _setup(ema=False):
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=5, code_dim=3, ema=ema)
    with torch.no_grad():
        vq.codebook.copy_(torch.randn(5, 3))
    z_e = torch.randn(2, 3, 4, 4, requires_grad=True)
    return vq, z_e


def test_quantizes_to_the_nearest_code():
    vq, z_e = _setup()
    out = vq(z_e)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 3)
    brute = torch.cdist(flat, vq.codebook.detach()).argmin(1)
    assert torch.equal(out.indices.flatten(), brute)
    assert torch.allclose(out.z_q.permute(0, 2, 3, 1).reshape(-1, 3), vq.codebook[brute])


def test_straight_through_gradient_copies_dl_dzq_to_ze():
    vq, z_e = _setup()
    w = torch.randn(2, 3, 4, 4)
    (vq(z_e).z_q * w).sum().backward()
    assert torch.equal(z_e.grad, w)
    assert vq.codebook.grad is None or torch.all(vq.codebook.grad == 0)


def test_codebook_loss_moves_only_the_codes():
    """d/de ||sg[z_e] - e||^2 / B = 2 (e_k - z_e) / B summed over positions; d/dz_e = 0."""
    vq, z_e = _setup()
    out = vq(z_e)
    g_ze, g_e = torch.autograd.grad(out.codebook_loss, [z_e, vq.codebook], allow_unused=True)
    assert g_ze is None or torch.all(g_ze == 0)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 3)
    idx = out.indices.flatten()
    expected = torch.zeros(5, 3).index_add_(0, idx, 2 * (vq.codebook.detach()[idx] - flat)) / 2
    assert torch.allclose(g_e, expected, atol=1e-6)


def test_commitment_loss_moves_only_the_encoder():
    """d/dz_e ||z_e - sg[e]||^2 / B = 2 (z_e - e_k) / B; d/de = 0."""
    vq, z_e = _setup()
    out = vq(z_e)
    g_ze, g_e = torch.autograd.grad(out.commitment_loss, [z_e, vq.codebook], allow_unused=True)
    assert g_e is None or torch.all(g_e == 0)
    e = vq.lookup(out.indices).detach()
    assert torch.allclose(g_ze, 2 * (z_e.detach() - e) / 2, atol=1e-6)


def test_perplexity_and_usage_have_known_extremes():
    vq = VectorQuantizer(num_codes=4, code_dim=2)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]))
    same = vq(torch.zeros(3, 2, 2, 2))
    assert same.perplexity.item() == pytest.approx(1.0) and same.usage.item() == 0.25
    every = vq.codebook.detach().t().reshape(1, 2, 2, 2)  # each code once
    out = vq(every)
    assert out.perplexity.item() == pytest.approx(4.0) and out.usage.item() == 1.0


def test_ema_codebook_converges_to_cluster_means():
    """Repeated EMA updates on fixed data reach the centroid (k-means) fixed point."""
    vq = VectorQuantizer(num_codes=5, code_dim=3, ema=True, decay=0.9)
    assert not any(p.requires_grad for p in vq.parameters())
    torch.manual_seed(1)
    centres = torch.tensor([[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    with torch.no_grad():
        vq.codebook.copy_(centres.repeat(2, 1)[:5] + 0.5)
        vq.cluster_sum.copy_(vq.codebook)
    points = centres[torch.arange(60) % 3] + 0.3 * torch.randn(60, 3)
    z_e = points.t().reshape(1, 3, 6, 10)
    vq.train()
    for _ in range(200):
        out = vq(z_e)
    idx = out.indices.flatten()
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
    for k in idx.unique():
        assert torch.allclose(vq.codebook[k], flat[idx == k].mean(0), atol=1e-3)


def test_data_init_places_every_code_on_an_encoder_output():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=6, code_dim=2, init="data")
    z_e = 10 + torch.randn(1, 2, 5, 5)
    vq.eval()
    vq(z_e)  # evaluation never initializes
    assert vq.codebook.abs().max() < 1
    vq.train()
    out = vq(z_e)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 2)
    assert torch.cdist(vq.codebook.detach(), flat).min(1).values.max() < 1e-6
    assert bool(vq.initialized) and out.usage > 1 / 6


def test_bad_shapes_fail_fast():
    vq = VectorQuantizer(4, 2)
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\), got \(3, 5, 2, 2\)"):
        vq(torch.zeros(3, 5, 2, 2))
    with pytest.raises(ValueError, match="decay must lie in"):
        VectorQuantizer(4, 2, ema=True, decay=1.0)
    with pytest.raises(ValueError, match="unknown codebook init 'kmeans'"):
        VectorQuantizer(4, 2, init="kmeans")
