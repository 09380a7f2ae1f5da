import pytest
import torch

from pyrogen.data import collapse_gaussian, collapse_gaussian_params, template_sequences


def test_collapse_data_has_the_stated_moments():
    gen = torch.Generator().manual_seed(0)
    x = collapse_gaussian(50, dim=3, rank=1, generator=gen, exact_moments=True).double()
    loc, cov = collapse_gaussian_params(3, 1)
    assert torch.allclose(x.mean(0), loc.double(), atol=1e-5)
    assert torch.allclose(torch.cov(x.T, correction=0), cov.double(), atol=1e-5)
    assert torch.linalg.matrix_rank(cov - 0.5 * torch.eye(3)) == 1
    # Without whitening, the draws are i.i.d. N(mu, Sigma): moments agree to sampling error.
    y = collapse_gaussian(20000, dim=3, rank=2, generator=gen).double()
    loc2, cov2 = collapse_gaussian_params(3, 2)
    assert torch.allclose(torch.cov(y.T), cov2.double(), atol=0.1)
    _, diag = collapse_gaussian_params(4, 0)
    assert torch.equal(diag, torch.diag(torch.diagonal(diag)))


def test_template_sequences_flip_rate():
    gen = torch.Generator().manual_seed(0)
    x = template_sequences(4000, length=16, num_templates=1, flip_prob=0.1, generator=gen)
    # One template: every column is a constant bit flipped with probability 0.1.
    minority = torch.minimum(x.mean(0), 1 - x.mean(0))
    assert torch.allclose(minority, torch.full((16,), 0.1), atol=0.02)


def test_bad_arguments():
    with pytest.raises(ValueError, match="rank must be an int in"):
        collapse_gaussian(10, dim=3, rank=4)
    with pytest.raises(ValueError, match="exact_moments needs n > dim"):
        collapse_gaussian(3, dim=3, exact_moments=True)
    with pytest.raises(ValueError, match="flip_prob"):
        template_sequences(3, flip_prob=0.7)
