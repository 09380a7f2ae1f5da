"""PixelCNN's blind spot versus Gated PixelCNN's full receptive field, by gradient."""

import torch

from pyrogen.models import GatedPixelCNN, PixelCNN, PixelCNNpp


def pixel_gradient(m, r, c, size=9, y=None):
    """|d m(x)[.., r, c] / d x[.., i, j]| summed over parameters, as a (size, size) map."""
    torch.manual_seed(0)
    x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = m.double()(x, y)
    out[..., r, c].sum().backward()
    return x.grad[0, 0].abs()


def test_pixelcnn_has_a_blind_spot():
    torch.manual_seed(0)
    m = PixelCNN((1, 9, 9), channels=16, num_layers=3, kernel_size=3, first_kernel=3)
    g = pixel_gradient(m, 6, 4)
    # Stacked 3x3 masks move at most one column right per row up: (r-1, c+2) is never
    # reached, although the farther (r-2, c+2) and (r-3, c+3) are.
    assert g[5, 6] == 0
    assert g[4, 6] > 0 and g[3, 7] > 0
    assert g[5, 5] > 0 and g[6, 3] > 0
    assert (g[6, 4:] == 0).all() and (g[7:] == 0).all()


def test_gated_pixelcnn_sees_every_earlier_pixel_of_its_receptive_field():
    torch.manual_seed(0)
    n = 3
    m = GatedPixelCNN((1, 9, 9), channels=16, num_layers=n, kernel_size=3, num_classes=2)
    r, c = 6, 4
    g = pixel_gradient(m, r, c, y=torch.tensor([1]))
    field = torch.zeros(9, 9, dtype=torch.bool)
    field[r - 1 - n : r, c - n : c + n + 1] = True  # rows above, through the vertical stack
    field[r, c - n : c] = True  # left on the current row, through the horizontal stack
    assert (g[field] > 0).all(), "a pixel of the receptive field is blind"
    assert (g[~field] == 0).all()
    assert g[r - 1, c + 2] > 0  # the spot PixelCNN misses


def test_pixelcnnpp_is_a_pixelcnn_with_the_logistic_mixture():
    torch.manual_seed(0)
    m = PixelCNNpp((1, 5, 5), num_mixtures=4, num_bins=256, channels=8, num_layers=1)
    x = torch.randint(0, 256, (3, 1, 5, 5)) / 255.0
    assert m(x).shape == (3, 12, 1, 5, 5)
    assert m.log_prob(x).shape == (3,)
    torch.manual_seed(1)
    s = m.sample(2)
    assert torch.equal(s, (s * 255).round() / 255)
