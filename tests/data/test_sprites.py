import pytest
import torch

from pyrogen.data import Sprites, load_sprites


def test_factors_control_the_image_as_designed():
    s = Sprites(size=32)
    base = torch.tensor([[0, 5, 0, 8, 8]])
    img = s.render(base)[0, 0]
    assert set(img.unique().tolist()) == {0.0, 1.0}
    # An axis-aligned square of half-side 0.8 * 0.18 of the frame: about 9.2 pixels wide.
    assert 64 <= img.sum() <= 100
    # Moving pos_x shifts the mass to the right, leaving the shape unchanged.
    moved = s.render(torch.tensor([[0, 5, 0, 15, 8]]))[0, 0]
    cols = torch.arange(32.0)
    assert (moved.sum(0) @ cols) / moved.sum() > (img.sum(0) @ cols) / img.sum() + 5
    assert abs(float(moved.sum() - img.sum())) <= 0.15 * float(img.sum())  # pixel aliasing
    # Area grows with the square of the scale.
    small = s.render(torch.tensor([[1, 0, 0, 8, 8]]))[0, 0].sum()
    large = s.render(torch.tensor([[1, 5, 0, 8, 8]]))[0, 0].sum()
    assert 3.0 < large / small < 5.0
    # Rotating a square by a quarter turn (orientation index 5 of 10 = pi) is the same image.
    assert torch.equal(
        s.render(torch.tensor([[0, 3, 5, 8, 8]])), s.render(torch.tensor([[0, 3, 0, 8, 8]]))
    )


def test_load_is_seeded_and_shaped():
    a = load_sprites(50, size=16, seed=3)
    b = load_sprites(50, size=16, seed=3)
    x, y = a
    assert x.shape == (50, 1, 16, 16) and y.shape == (50, 5)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert len(Sprites()) == 3 * 6 * 10 * 16 * 16


def test_bad_factors_fail_fast():
    s = Sprites(size=16)
    with pytest.raises(ValueError, match=r"'scale' indices must lie in \[0, 5\], got \[0, 6\]"):
        s.render(torch.tensor([[0, 6, 0, 0, 0], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \(N, 5\)"):
        s.render(torch.zeros(3, 4, dtype=torch.long))
