"""Contractive autoencoder: the penalty is the squared Frobenius norm of the encoder's Jacobian
(Rifai et al. 2011), checked against autograd's Jacobian, and it does contract."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian

from pyrogen.infer import AutoencoderTrainer
from pyrogen.models import ContractiveAutoencoder, jacobian_frobenius


def _frobenius_by_autograd(encoder, x: torch.Tensor) -> torch.Tensor:
    """||d f(x_b) / d x_b||_F^2 for each example, one full Jacobian at a time."""
    return torch.stack([jacobian(lambda v: encoder(v[None])[0], xb).pow(2).sum() for xb in x])


@pytest.mark.parametrize(
    "hidden, code_act",
    [((), "sigmoid"), ((), "tanh"), ((), None), ((7,), "sigmoid"), ((7, 5), None)],
)
def test_penalty_is_the_squared_frobenius_norm_of_the_encoder_jacobian(hidden, code_act):
    torch.manual_seed(0)
    cae = ContractiveAutoencoder(
        (2, 3), code_dim=4, hidden=hidden, act="tanh", code_act=code_act
    ).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    expected = _frobenius_by_autograd(cae.encode, x)
    assert torch.allclose(cae.contractive_penalty(x), expected, rtol=1e-10)
    assert torch.allclose(jacobian_frobenius(cae.encoder, x.flatten(1)), expected, rtol=1e-10)
    out = cae.losses(x)
    assert torch.allclose(out["contractive"], expected.mean())
    assert torch.allclose(out["loss"], out["recon"] + 0.1 * expected.mean())


def test_closed_form_and_autograd_penalties_have_the_same_parameter_gradient():
    torch.manual_seed(0)
    cae = ContractiveAutoencoder(5, code_dim=3).double()
    x = torch.randn(8, 5, dtype=torch.float64)
    params = list(cae.encoder.parameters())
    closed = torch.autograd.grad(cae.contractive_penalty(x).sum(), params)
    generic = torch.autograd.grad(jacobian_frobenius(cae.encoder, x).sum(), params)
    for a, b in zip(closed, generic):
        assert torch.allclose(a, b, rtol=1e-10)


def test_autograd_penalty_gradient_matches_finite_differences():
    torch.manual_seed(0)
    x = torch.randn(4, 3, dtype=torch.float64)
    w1 = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)

    def penalty(a, b):
        return jacobian_frobenius(lambda v: torch.tanh(torch.tanh(v @ a.T) @ b.T), x)

    assert torch.autograd.gradcheck(penalty, (w1, w2))


def test_penalty_without_gradients_is_detached_and_still_exact():
    torch.manual_seed(0)
    cae = ContractiveAutoencoder(4, code_dim=3, hidden=(6,))
    x = torch.randn(5, 4)
    with torch.no_grad():
        value = cae.contractive_penalty(x)
        out = AutoencoderTrainer(cae).evaluate(x)
    assert not value.requires_grad
    assert torch.allclose(value, _frobenius_by_autograd(cae.encode, x), rtol=1e-5)
    assert torch.isfinite(out["contractive"])
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        jacobian_frobenius(cae.encoder, x[0])


def test_the_penalty_contracts_the_encoder():
    """Same data, same steps: the penalized encoder's Jacobian norm on held-out points is a
    fraction of the plain one's, while it still reconstructs (a constant code, the trivial
    way to contract, would lose the data's whole variance)."""
    torch.manual_seed(0)
    mix = torch.randn(3, 10)
    x, test = torch.randn(1000, 3) @ mix, torch.randn(500, 3) @ mix
    norms, errors = {}, {}
    for weight in (0.0, 1.0):
        torch.manual_seed(1)
        cae = ContractiveAutoencoder(10, code_dim=16, weight=weight)
        trainer = AutoencoderTrainer(cae, lr=1e-2)
        for _ in range(300):
            trainer.step(x[torch.randint(len(x), (100,))])
        with torch.no_grad():
            norms[weight] = float(cae.contractive_penalty(test).mean())
            errors[weight] = float(cae.reconstruction_error(test).mean())
    assert norms[1.0] < 0.5 * norms[0.0], norms
    variance = float(test.var(0).sum())
    assert errors[1.0] < 0.1 * variance, (errors, variance)


def test_weight_must_be_non_negative():
    with pytest.raises(ValueError, match="weight"):
        ContractiveAutoencoder(3, 2, weight=-1.0)
