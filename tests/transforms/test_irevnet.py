"""i-RevNet: the squeeze's index formula, the block equations, volume preservation,
and exact inversion of MNIST images (the transform contract runs in test_contract.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pyrogen.data import load
from pyrogen.models import FlowDensity
from pyrogen.testing import TransformContractError
from pyrogen.testing.transforms import check_log_det
from pyrogen.transforms import IRevNet, IRevNetBlock, Squeeze


def _perturbed(t):
    with torch.no_grad():
        for p in t.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return t


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_squeeze_follows_its_index_formula_and_is_a_permutation(batch):
    """y[..., 4c + 2i + j, h, w] = x[..., c, 2h + i, 2w + j], written out entry by entry."""
    x = torch.randn(*batch, 3, 4, 6)
    squeeze = Squeeze()
    y = squeeze(x)
    assert y.shape == (*batch, 12, 2, 3)
    for c in range(3):
        for i in range(2):
            for j in range(2):
                torch.testing.assert_close(
                    y[..., 4 * c + 2 * i + j, :, :], x[..., c, i::2, j::2], rtol=0, atol=0
                )
    torch.testing.assert_close(squeeze.inv(y), x, rtol=0, atol=0)
    # Entries are moved, never combined: the image of 0..n-1 is a permutation of it.
    idx = torch.arange(72.0).reshape(3, 4, 6)
    assert sorted(squeeze(idx).flatten().tolist()) == idx.flatten().tolist()


def test_block_follows_the_irevnet_equations():
    torch.manual_seed(0)
    block = _perturbed(IRevNetBlock((4, 6, 6), hidden=5, downsample=True).double())
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    y = block(x.flatten(1)).reshape(2, *block.out_shape)
    x1, x2 = x[:, :2], x[:, 2:]
    s = lambda v: F.pixel_unshuffle(v, 2)  # noqa: E731 (S: torch's own space-to-depth)
    # Jacobsen et al., section 3: x~_{j+1} = S x_j, x_{j+1} = S x~_j + F(x_j).
    torch.testing.assert_close(y[:, :8], s(x2), rtol=0, atol=0)
    torch.testing.assert_close(y[:, 8:], s(x1) + block.f(x2), rtol=1e-12, atol=1e-12)


def test_halves_trade_places_so_both_are_transformed():
    torch.manual_seed(0)
    b1 = _perturbed(IRevNetBlock((4, 3, 3), hidden=5).double())
    b2 = _perturbed(IRevNetBlock((4, 3, 3), hidden=5).double())
    x = torch.randn(3, 4, 3, 3, dtype=torch.float64)
    y = b2(b1(x.flatten(1))).reshape(3, 4, 3, 3)
    x1, x2 = x[:, :2], x[:, 2:]
    z = x1 + b1.f(x2)  # the half the first block changed, passed on unchanged
    torch.testing.assert_close(y[:, :2], z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y[:, 2:], x2 + b2.f(z), rtol=1e-12, atol=1e-12)


class _ScaledBlock(IRevNetBlock):
    """A plausible bug: the passive half is scaled, ``y2 = 2 S(x1) + F(x2)``; still
    invertible, but not volume preserving (log|det J| = (D/2) log 2, not 0)."""

    def _image_call(self, x):
        x1, x2 = x.chunk(2, dim=-3)
        return torch.cat([self._s(x2), 2 * self._s(x1) + self._f(x2)], dim=-3)

    def _image_inverse(self, y):
        y1, y2 = y.chunk(2, dim=-3)
        x2 = self._s_inv(y1)
        return torch.cat([self._s_inv((y2 - self._f(x2)) / 2), x2], dim=-3)


@pytest.mark.parametrize("downsample", [False, True])
def test_log_det_check_rejects_a_block_that_is_not_volume_preserving(downsample):
    torch.manual_seed(0)
    x = torch.randn(2, 64, dtype=torch.float64)
    good = IRevNetBlock((4, 4, 4), hidden=5, downsample=downsample).double()
    check_log_det(good, x)
    bad = _ScaledBlock((4, 4, 4), hidden=5, downsample=downsample).double()
    torch.testing.assert_close(bad.inv(bad(x)), x)
    with pytest.raises(TransformContractError, match="forward log"):
        check_log_det(bad, x)


def test_flow_density_with_an_irevnet_is_the_base_density_of_the_inverse():
    torch.manual_seed(0)
    phi = _perturbed(IRevNet((1, 8, 8), depths=(1, 2), hidden=6).double())
    m = FlowDensity((1, 8, 8), transforms=[phi]).double()
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    z = phi.inv(x.flatten(1))
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(m.log_prob(x), expected, rtol=1e-12, atol=1e-12)
    assert m.sample(3).shape == (3, 1, 8, 8)


def test_irevnet_inverts_mnist_images_in_float32():
    x = load("mnist", "test", download=False).x[:128].flatten(1)
    torch.manual_seed(0)
    phi = IRevNet((1, 28, 28), depths=(3, 3), hidden=32)
    assert phi.out_shape == (16, 7, 7)
    with torch.no_grad():
        y = phi(x)
        back = phi.inv(y)
    err = (back - x).abs()
    assert float(err.max()) < 1e-5 and float(err.mean()) < 1e-6
    # Not trivially invertible: y is no rearrangement of x's pixels (their sorted values
    # differ by more than 10% of the image's norm).
    moved = (y.sort(dim=1).values - x.sort(dim=1).values).norm(dim=1) / x.norm(dim=1)
    assert float(moved.min()) > 0.1


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="even number of channels"):
        IRevNetBlock((3, 4, 4))
    with pytest.raises(ValueError, match="H and W even"):
        IRevNetBlock((4, 5, 4), downsample=True)
    with pytest.raises(ValueError, match=r"image shape \(C, H, W\)"):
        IRevNetBlock((4, 4))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(\.\.\., 64\), got \(2, 63\)"):
        IRevNetBlock((4, 4, 4))(torch.randn(2, 63))
    with pytest.raises(ValueError, match="divisible by 4"):
        IRevNet((1, 6, 6), depths=(1, 1))
    with pytest.raises(ValueError, match="one hidden width per stage"):
        IRevNet((1, 8, 8), depths=(1, 1), hidden=(4,))
    with pytest.raises(ValueError, match="at least one block"):
        IRevNet((1, 8, 8), depths=(1, 0))
    with pytest.raises(ValueError, match=r"\(\.\.\., 64\), got \(2, 16\)"):
        IRevNet((1, 8, 8), depths=(1,)).inv(torch.randn(2, 16))
