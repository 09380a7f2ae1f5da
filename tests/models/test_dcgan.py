import pytest
import torch
from torch import nn

from pyrogen.models import Discriminator, Generator


def test_dcgan_shapes_and_output_range():
    g = Generator((1, 28, 28), z_dim=16, arch="dcgan", channels=(16, 8))
    x = g.sample(3)
    assert x.shape == (3, 1, 28, 28) and float(x.min()) >= 0 and float(x.max()) <= 1
    d = Discriminator((1, 28, 28), arch="dcgan", channels=(8, 16))
    assert d(x).shape == (3,)
    assert d.features(x).shape == (3, 16 * 7 * 7)


def test_radford_guidelines():
    g = Generator((1, 28, 28), z_dim=16, arch="dcgan", channels=(16, 8))
    d = Discriminator((1, 28, 28), arch="dcgan", channels=(8, 16))
    # No pooling; transposed convolutions in G, strided convolutions in D.
    assert not any(isinstance(m, nn.MaxPool2d | nn.AvgPool2d) for m in [*g.modules(), *d.modules()])
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules()) == 2
    assert all(m.stride == (2, 2) for m in d.modules() if isinstance(m, nn.Conv2d))
    # Batch norm in G except its output layer; none on D's input layer; LeakyReLU(0.2) in D.
    g_layers = list(g.net.net)
    assert isinstance(g_layers[-1], nn.Sigmoid) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    d_layers = list(d.trunk.net)
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    assert any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert any(isinstance(m, nn.ReLU) for m in g.modules())


def test_gradient_penalty_critic_has_no_batch_norm_and_shapes_are_checked():
    d = Discriminator((1, 28, 28), arch="dcgan", norm="layer")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    # Per-example independence: one example's score does not depend on the others.
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(d(x)[:2], d(x[:2]), atol=1e-5)
    with pytest.raises(ValueError, match="divisible by 4"):
        Generator((1, 30, 30), arch="dcgan")
