import pytest
import torch

from pyrogen.models import Discriminator
from pyrogen.nn import MinibatchDiscrimination


def naive_statistics(f: torch.Tensor, T: torch.Tensor, include_self: bool) -> torch.Tensor:
    """o(x_i)_b by the paper's definitions, one scalar at a time (Salimans et al., Sec. 3.2)."""
    n, a = f.shape
    _, b_dim, c_dim = T.shape
    M = [[[sum(f[i, k] * T[k, b, c] for k in range(a)) for c in range(c_dim)]
          for b in range(b_dim)] for i in range(n)]  # fmt: skip
    o = torch.zeros(n, b_dim, dtype=f.dtype)
    for i in range(n):
        for b in range(b_dim):
            for j in range(n):
                if j == i and not include_self:
                    continue
                l1 = sum(abs(M[i][b][c] - M[j][b][c]) for c in range(c_dim))
                o[i, b] += torch.exp(-l1)
    return o


@pytest.mark.parametrize("include_self", [True, False])
def test_statistics_equal_the_naive_double_loop(include_self):
    torch.manual_seed(1)
    layer = MinibatchDiscrimination(3, 4, 2, include_self=include_self).double()
    f = torch.randn(6, 3, dtype=torch.float64)
    with torch.no_grad():
        expected = naive_statistics(f, layer.T, include_self)
        out = layer(f)
    assert out.shape == (6, 3 + 4)
    assert torch.equal(out[:, :3], f)  # the features pass through unchanged
    assert torch.allclose(out[:, 3:], expected, rtol=1e-10, atol=1e-12)
    # Not a trivial check: the statistics vary over examples and kernels.
    assert expected.std() > 0.05


def test_permutation_equivariant_over_the_batch():
    torch.manual_seed(2)
    layer = MinibatchDiscrimination(5, 7, 3)
    f = torch.randn(9, 5)
    perm = torch.randperm(9)
    assert torch.allclose(layer(f[perm]), layer(f)[perm], atol=1e-6)


@pytest.mark.parametrize("include_self, value", [(True, 8.0), (False, 7.0)])
def test_identical_examples_give_batch_size(include_self, value):
    torch.manual_seed(3)
    layer = MinibatchDiscrimination(4, 6, 3, include_self=include_self)
    f = torch.randn(1, 4).expand(8, 4)
    assert torch.allclose(layer.statistics(f), torch.full((8, 6), value))
    # Far-apart examples see only themselves: o -> 1 (or 0 without the self term).
    far = 1e3 * torch.eye(4)
    assert torch.allclose(layer.statistics(far), torch.full((4, 6), value - 7.0), atol=1e-6)


def test_gradient_reaches_T_and_the_features():
    torch.manual_seed(4)
    layer = MinibatchDiscrimination(4, 3, 2)
    f = (0.3 * torch.randn(5, 4)).requires_grad_()
    layer.statistics(f).sum().backward()
    assert layer.T.grad is not None and layer.T.grad.abs().min() > 0
    assert f.grad is not None and torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
    # The autograd gradient equals a finite-difference one (double precision).
    layer64 = layer.double()
    f64 = f.detach().double()
    T64 = layer64.T.detach().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda T: torch.func.functional_call(layer64, {"T": T}, (f64,)), (T64,)
    )


def test_bad_input_and_arguments():
    layer = MinibatchDiscrimination(4, 3, 2)
    with pytest.raises(ValueError, match=r"features of shape \(batch, 4\), got \(5, 3\)"):
        layer(torch.randn(5, 3))
    with pytest.raises(ValueError, match="num_kernels must be a positive int, got 0"):
        MinibatchDiscrimination(4, 0, 2)


def test_discriminator_option_changes_nothing_by_default():
    torch.manual_seed(5)
    plain = Discriminator((2,), hidden=(8, 6))
    assert plain.minibatch is None and plain.feature_dim == 6
    torch.manual_seed(5)
    mbd = Discriminator((2,), hidden=(8, 6), minibatch_features=3, minibatch_kernel_dim=2)
    assert mbd.feature_dim == 9 and mbd.head.in_features == 9
    x = torch.randn(10, 2)
    # Same trunk (same seed): the first 6 features agree, then the 3 batch statistics.
    assert torch.allclose(mbd.features(x)[:, :6], plain.features(x))
    assert mbd(x).shape == (10,)
    # A critic with minibatch statistics scores an example according to its batch.
    assert not torch.allclose(mbd(x)[:5], mbd(x[:5]))
    assert torch.allclose(plain(x)[:5], plain(x[:5]))


def test_adversarial_training_updates_the_minibatch_kernel():
    from pyrogen.infer import AdversarialSVI
    from pyrogen.models import Generator

    torch.manual_seed(6)
    critic = Discriminator((2,), hidden=(16, 16), minibatch_features=4, minibatch_kernel_dim=3)
    trainer = AdversarialSVI(Generator((2,), z_dim=3, hidden=(16,)), critic, "nonsaturating")
    before = critic.minibatch.T.detach().clone()
    out = trainer.step(torch.randn(32, 2))
    assert all(torch.isfinite(v) for v in out.values())
    assert not torch.equal(critic.minibatch.T, before)
