"""The undercomplete autoencoder: its losses, its input checks, and the PCA special case."""

from __future__ import annotations

import pytest
import torch

from pyrogen.infer import AutoencoderTrainer
from pyrogen.models import Autoencoder
from pyrogen.models.autoencoder import reconstruction_loss

EIGENVALUES = torch.tensor([4.0, 2.0, 0.3, 0.1])


def _gaussian(n: int, rotation: torch.Tensor) -> torch.Tensor:
    return (torch.randn(n, 4) * EIGENVALUES.sqrt()) @ rotation.T


def test_reconstruction_losses_match_their_formulas():
    torch.manual_seed(0)
    x, out = torch.rand(5, 7), torch.randn(5, 7)
    mse = torch.stack([torch.sum((o - t) ** 2) for o, t in zip(out, x)])
    assert torch.allclose(reconstruction_loss(x, out, "mse"), mse)
    r = 1 / (1 + torch.exp(-out))
    bce = -(x * r.log() + (1 - x) * (1 - r).log()).sum(1)
    assert torch.allclose(reconstruction_loss(x, out, "bce"), bce, atol=1e-5)
    with pytest.raises(ValueError, match="unknown reconstruction loss"):
        reconstruction_loss(x, out, "l1")


def test_linear_undercomplete_autoencoder_recovers_pca():
    """A linear code of size 2 and squared error: the least error is the sum of the two
    smallest covariance eigenvalues (0.3 + 0.1), reached by the principal subspace; a code of
    size 1 cannot go below 2.4."""
    torch.manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4))
    x, test = _gaussian(4000, rotation), _gaussian(4000, rotation)
    ae = Autoencoder(4, code_dim=2, code_act=None)
    trainer = AutoencoderTrainer(ae, lr=3e-2)
    for _ in range(200):
        trainer.step(x[torch.randint(len(x), (256,))])
    with torch.no_grad():
        error = float(ae.reconstruction_error(test).mean())
        decoder = ae.decoder[0].weight  # (4, 2): spans the reconstructions
    assert error == pytest.approx(0.4, rel=0.05)
    basis, _ = torch.linalg.qr(decoder)
    top = rotation[:, :2]  # the principal directions
    cosines = torch.linalg.svdvals(basis.T @ top)  # cosines of the principal angles
    assert cosines.min() > 0.99, cosines


def test_encode_decode_shapes_and_bce_mean_in_unit_interval():
    torch.manual_seed(0)
    ae = Autoencoder((1, 6, 6), code_dim=5, hidden=(16,), loss="bce")
    x = torch.rand(3, 1, 6, 6)
    h = ae.encode(x)
    assert h.shape == (3, 5) and bool(((h > 0) & (h < 1)).all())  # sigmoid code
    r = ae(x)
    assert r.shape == x.shape and bool(((r > 0) & (r < 1)).all())
    assert torch.allclose(ae.losses(x)["loss"], ae.reconstruction_error(x).mean())


def test_bad_inputs_and_arguments_are_refused():
    ae = Autoencoder((2, 3), code_dim=2, loss="bce")
    with pytest.raises(ValueError, match=r"shape \(batch, 2, 3\)"):
        ae.check_x(torch.rand(4, 6))
    with pytest.raises(ValueError, match="finite"):
        ae.check_x(torch.full((4, 2, 3), float("nan")))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ae.check_x(torch.full((4, 2, 3), 2.0))
    with pytest.raises(ValueError, match="dtype"):
        ae.check_x(torch.rand(4, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown reconstruction loss"):
        Autoencoder(3, 2, loss="l2")
    with pytest.raises(ValueError, match="unknown code activation"):
        Autoencoder(3, 2, code_act="relu6")
    with pytest.raises(ValueError, match="code_dim"):
        Autoencoder(3, 0)
