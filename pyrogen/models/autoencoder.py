r"""Deterministic autoencoders: an encoder h = f(x), a decoder r = g(h), trained by
:math:`\min_{f, g} \mathbb{E}_x\, L(x, g(f(x)))`.

An *undercomplete* autoencoder (code size below the data size) cannot copy its input and must
keep its most salient directions: with a linear decoder and squared error it spans the same
subspace as PCA (Baldi & Hornik 1989), and nonlinear f, g generalize PCA. The regularized
variants that may use larger codes live next to this file:
:class:`~pyrogen.models.DenoisingAutoencoder` (reconstruct x from a corrupted copy) and
:class:`~pyrogen.models.ContractiveAutoencoder` (penalize the encoder's Jacobian).

These are not latent-variable models with a ``model``/``guide`` pair: they are trained by
their reconstruction loss, with :class:`~pyrogen.infer.AutoencoderTrainer` under
:func:`~pyrogen.infer.fit`.

References:
    Neural networks and principal component analysis: learning from examples without local
    minima, P. Baldi, K. Hornik, 1989 (a linear autoencoder with squared error spans the
    principal subspace).
    Deep Learning, I. Goodfellow, Y. Bengio, A. Courville, 2016, ch. 14 (undercomplete,
    denoising and contractive autoencoders). https://www.deeplearningbook.org/contents/autoencoders.html
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.nn.mlp import MLP
from pyrogen.validation import (
    check_dtype,
    check_finite,
    check_positive_int,
    check_shape,
    check_sizes,
    check_unit_interval,
    check_x_shape,
    parameter_dtype,
)

RECONSTRUCTION_LOSSES = ("mse", "bce")
CODE_ACTIVATIONS = (None, "sigmoid", "tanh")


def reconstruction_loss(x: torch.Tensor, out: torch.Tensor, loss: str) -> torch.Tensor:
    r"""Per-example reconstruction loss :math:`L(x, r)` summed over the data dimensions.

    ``"mse"``: :math:`\sum_d (x_d - r_d)^2` with ``out`` the reconstruction r.
    ``"bce"``: :math:`-\sum_d x_d \log r_d + (1 - x_d) \log(1 - r_d)`, r = sigmoid(``out``),
    the reconstruction cross-entropy of Vincent et al. (2008) for data in [0, 1].

    Args:
        x: targets ``(B, D)``.
        out: decoder outputs ``(B, D)``: the reconstruction (mse) or its logits (bce).
        loss: ``"mse"`` or ``"bce"``.

    Returns:
        Tensor ``(B,)``.
    """
    if loss == "mse":
        return (out - x).pow(2).sum(-1)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
    raise ValueError(
        f"unknown reconstruction loss {loss!r}; expected one of {RECONSTRUCTION_LOSSES}"
    )


def _code_activation(name: str | None) -> nn.Module:
    if name is None:
        return nn.Identity()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown code activation {name!r}; expected one of {CODE_ACTIVATIONS}")


class Autoencoder(nn.Module):
    r"""An autoencoder :math:`r(x) = g(f(x))` trained by :math:`L(x, g(f(x)))`.

    The encoder is an MLP ``D -> hidden -> code_dim`` followed by ``code_act``; with
    ``hidden=()`` it is the single layer :math:`h = s(Wx + b)` of the papers. The decoder
    mirrors it, ``code_dim -> reversed(hidden) -> D``, and emits the reconstruction (``"mse"``)
    or its logits (``"bce"``). Inputs of any shape ``x_shape`` are flattened to D values.

    Args:
        x_shape: shape of one example, e.g. ``(2,)`` or ``(1, 28, 28)``.
        code_dim: size of the code h; below D for an undercomplete autoencoder.
        hidden: widths of the hidden layers of the encoder (mirrored in the decoder).
        act: activation of the hidden layers (see :func:`pyrogen.nn.activation`).
        code_act: activation of the code: ``"sigmoid"`` (the papers' units), ``"tanh"`` or
            ``None`` (linear code).
        loss: reconstruction loss L, ``"mse"`` (squared error, any real data) or ``"bce"``
            (cross-entropy, data in [0, 1]); see :func:`reconstruction_loss`.

    Shapes:
        ``encode``: ``(B, *x_shape) -> (B, code_dim)``; ``decode``: ``(B, code_dim) ->
        (B, *x_shape)``; ``forward`` (the reconstruction): ``(B, *x_shape) -> (B, *x_shape)``.

    Example:
        >>> import torch
        >>> from pyrogen.models import Autoencoder
        >>> _ = torch.manual_seed(0)
        >>> ae = Autoencoder((1, 8, 8), code_dim=4, loss="bce")
        >>> x = torch.rand(16, 1, 8, 8)
        >>> ae.encode(x).shape, ae(x).shape, sorted(ae.losses(x))
        (torch.Size([16, 4]), torch.Size([16, 1, 8, 8]), ['loss', 'recon'])

    References:
        Deep Learning, I. Goodfellow, Y. Bengio, A. Courville, 2016, sec. 14.1 (undercomplete
        autoencoders; linear decoder and squared error span the PCA subspace).
        https://www.deeplearningbook.org/contents/autoencoders.html
    """

    def __init__(
        self,
        x_shape: int | Sequence[int],
        code_dim: int,
        hidden: Sequence[int] = (),
        act: str = "relu",
        code_act: str | None = "sigmoid",
        loss: str = "mse",
    ):
        super().__init__()
        self.x_shape = check_x_shape(x_shape)
        self.code_dim = check_positive_int(code_dim, "code_dim")
        self.hidden = check_sizes(hidden, "hidden", allow_empty=True)
        if loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"unknown reconstruction loss {loss!r}; expected one of {RECONSTRUCTION_LOSSES}"
            )
        self.loss, self.act, self.code_act = loss, act, code_act
        self.x_dim = math.prod(self.x_shape)
        self.encoder = nn.Sequential(
            MLP(self.x_dim, self.hidden, self.code_dim, act), _code_activation(code_act)
        )
        self.decoder = MLP(self.code_dim, self.hidden[::-1], self.x_dim, act)

    def check_x(self, x: torch.Tensor) -> None:
        """Raises ``ValueError`` unless ``x`` is ``(B, *x_shape)``, finite, of the parameters'
        dtype, and (for ``"bce"``) in [0, 1]."""
        check_shape(x, self.x_shape)
        check_dtype(x, parameter_dtype(self))
        check_finite(x)
        if self.loss == "bce":
            check_unit_interval(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code h = f(x), ``(B, code_dim)``."""
        return self.encoder(x.flatten(1))

    def decoder_output(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output ``(B, D)``: the reconstruction (mse) or its logits (bce)."""
        return self.decoder(h)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The reconstruction from raw decoder outputs ``(B, D)``, shaped ``(B, *x_shape)``."""
        r = torch.sigmoid(out) if self.loss == "bce" else out
        return r.reshape(-1, *self.x_shape)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """The reconstruction g(h), ``(B, *x_shape)``."""
        return self.mean(self.decoder_output(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction r(x) = g(f(x)), shaped like ``x``."""
        return self.decode(self.encode(x))

    def reconstruction_error(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example :math:`L(x, g(f(x)))` on clean inputs, ``(B,)``."""
        out = self.decoder_output(self.encode(x))
        return reconstruction_loss(x.flatten(1), out, self.loss)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training objective on a batch, averaged over examples: ``{"loss", "recon"}``
        with loss = recon = mean of :math:`L(x, g(f(x)))`."""
        recon = self.reconstruction_error(x).mean()
        return {"loss": recon, "recon": recon}
