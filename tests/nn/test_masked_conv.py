import pytest
import torch

from pyrogen.nn import MaskedConv2d


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_mask_pattern_single_channel(mask_type):
    conv = MaskedConv2d(1, 1, 3, mask_type)
    expected = torch.tensor([[1, 1, 1], [1, float(mask_type == "B"), 0], [0, 0, 0]])
    assert torch.equal(conv.mask[0, 0], expected)


def test_channel_groups_at_the_centre_by_gradient():
    torch.manual_seed(0)
    for mask_type, allowed in [("A", lambda gi, go: gi < go), ("B", lambda gi, go: gi <= go)]:
        conv = MaskedConv2d(3, 6, 3, mask_type, data_channels=3).double()
        for go in range(3):
            x = torch.randn(1, 3, 3, 3, dtype=torch.float64, requires_grad=True)
            conv(x)[0, 2 * go : 2 * go + 2, 1, 1].sum().backward()
            centre = x.grad[0, :, 1, 1]
            for gi in range(3):
                assert (centre[gi] != 0) == allowed(gi, go), (mask_type, gi, go)
            assert (x.grad[0, :, 2] == 0).all() and (x.grad[0, :, 1, 2] == 0).all()


def test_forward_valid_equals_the_padded_convolution_inside():
    torch.manual_seed(0)
    conv = MaskedConv2d(2, 4, 5, "B").double()
    x = torch.randn(2, 2, 9, 11, dtype=torch.float64)
    full = conv(x)
    window = x[:, :, 1:7, 2:9]  # rows 1..6, cols 2..8
    valid = conv.forward_valid(window)  # rows 3..6, cols 4..6
    assert torch.allclose(valid, full[:, :, 3:7, 4:7])


def test_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        MaskedConv2d(1, 1, 4)
    with pytest.raises(ValueError, match="multiple"):
        MaskedConv2d(3, 4, 3, data_channels=3)
