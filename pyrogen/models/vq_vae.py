r"""VQ-VAE (van den Oord et al. 2017): a discrete latent grid, a codebook, and a learned prior.

Stage 1 trains encoder, codebook and decoder on (per example, summed over the latent grid)

    L = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta * ||z_e(x) - sg[e]||^2

with the straight-through gradient through the quantizer (eq. 3). In Pyro terms the guide
q(z|x) is a point mass on the nearest codes, the prior p(z) uniform over the K codes at each
of the h x w positions, so KL(q || p) = h w log K is a constant and the ELBO is the
reconstruction term minus that constant. Stage 2 fits an autoregressive prior over the code
grids of the training set (:meth:`PixelCNN.for_codes <pyrogen.models.PixelCNN.for_codes>`);
sampling draws codes from it and decodes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn.quantize import Quantized, VectorQuantizer
from pyrogen.validation import (
    check_image_shape,
    check_num_samples,
    check_observations,
    check_positive_int,
    parameter_dtype,
)


def check_grid_image_shape(x_shape: Sequence[int], name: str) -> tuple[int, int, int]:
    """``(C, H, W)`` with H and W divisible by 4, the two stride-2 steps of the trunks."""
    c, h, w = check_image_shape(x_shape, name)
    if h % 4 or w % 4:
        raise ValueError(
            f"{name} expects x_shape (C, H, W) with H, W divisible by 4, got {tuple(x_shape)}"
        )
    return c, h, w


def encoder_trunk(c: int, hidden: int) -> list[nn.Module]:
    """``(B, c, H, W) -> (B, hidden, H/4, W/4)``: two stride-2 4x4 convolutions and a 3x3."""
    return [
        nn.Conv2d(c, hidden, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
    ]  # fmt: skip


def decoder_trunk(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    """``(B, c_in, h, w) -> (B, c_out, 4h, 4w)``: a 3x3 convolution and two stride-2 4x4
    transposed convolutions, the mirror of :func:`encoder_trunk`."""
    return nn.Sequential(
        nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(hidden, c_out, 4, stride=2, padding=1),
    )  # fmt: skip


def code_grids(draws: torch.Tensor) -> torch.Tensor:
    """Integer code grids ``(n, h, w)`` from a prior's draws: grids ``(n, h, w)`` or
    one-channel images ``(n, 1, h, w)`` such as :meth:`~pyrogen.models.PixelCNN.for_codes`
    gives."""
    if draws.dim() == 4:
        if draws.shape[1] != 1:
            raise ValueError(
                f"a code prior draws (n, h, w) or (n, 1, h, w), got {tuple(draws.shape)}"
            )
        draws = draws.squeeze(1)
    return draws.long()


class VQVAE(PyroModel):
    r"""Convolutional VQ-VAE: ``(C, H, W)`` images -> ``(H/4, W/4)`` grid of code indices.

    Args:
        x_shape: image shape ``(C, H, W)``, H and W divisible by 4.
        num_codes: codebook size K.
        code_dim: code dimension D.
        hidden: channels of the convolutional trunks.
        likelihood: observation model p(x | z_q) (``"continuous_bernoulli"`` for grey levels
            in [0, 1], ``"bernoulli"``, ``"gaussian"``).
        beta: commitment weight (the paper: 0.25).
        ema: EMA codebook updates instead of the codebook loss.
        init: codebook initialization, ``"uniform"`` or ``"data"`` (see
            :class:`~pyrogen.nn.VectorQuantizer`).
        prior: optional stage-2 prior over code grids with ``sample(n) -> (n, h, w)`` (or
            ``(n, 1, h, w)``: :class:`~pyrogen.models.PixelCNN` with a categorical likelihood
            over ``(1, h, w)`` also works).

    Example:
        >>> vq = VQVAE((1, 8, 8), num_codes=16, code_dim=4, hidden=8)
        >>> vq.codes(torch.rand(3, 1, 8, 8)).shape, vq.sample(2).shape
        (torch.Size([3, 2, 2]), torch.Size([2, 1, 8, 8]))

    References:
        Neural Discrete Representation Learning, A. van den Oord, O. Vinyals,
        K. Kavukcuoglu, 2017, eq. (3). https://arxiv.org/abs/1711.00937
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 28, 28),
        num_codes: int = 64,
        code_dim: int = 16,
        hidden: int = 64,
        likelihood: str | Likelihood = "continuous_bernoulli",
        beta: float = 0.25,
        ema: bool = False,
        init: str = "uniform",
        prior: nn.Module | None = None,
    ):
        super().__init__()
        c, h, w = check_grid_image_shape(x_shape, "VQVAE")
        hidden = check_positive_int(hidden, "hidden")
        self.x_shape = (c, h, w)
        self.latent_shape = (h // 4, w // 4)
        self.likelihood = get_likelihood(likelihood)
        self.beta = float(beta)
        p = self.likelihood.params_per_value
        self.encoder = nn.Sequential(*encoder_trunk(c, hidden), nn.Conv2d(hidden, code_dim, 1))
        self.quantizer = VectorQuantizer(num_codes, code_dim, ema=ema, init=init)
        self.decoder = decoder_trunk(code_dim, hidden, p * c)
        self.prior = prior

    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    def check_x(self, x: torch.Tensor) -> None:
        """Shape always; dtype, finiteness and support when Pyro validation is enabled."""
        check_observations(x, self.x_shape, parameter_dtype(self), self.likelihood.check_support)

    def quantize(self, x: torch.Tensor) -> Quantized:
        """Encodes ``(B, C, H, W)`` and quantizes: see :class:`~pyrogen.nn.VectorQuantizer`."""
        self.check_x(x)
        return self.quantizer(self.encoder(x))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices ``(B, H/4, W/4)`` of images ``(B, C, H, W)``."""
        with torch.no_grad():
            return self.quantize(x).indices

    def decode_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Raw likelihood parameters ``(B, P*C, H, W)`` for code grids ``(B, h, w)``."""
        return self.decoder(self.quantizer.lookup(indices))

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        r"""Stage-1 terms per example: ``loss`` = recon + codebook + beta * commitment, and
        ``recon`` (-log p(x|z_q)), ``mse`` (squared error of the mean per pixel), ``codebook``,
        ``commitment``, ``perplexity``, ``usage``. With EMA the codebook term is reported
        but not added (the codebook has no gradient)."""
        q = self.quantize(x)
        params = self.decoder(q.z_q)
        recon = -self.likelihood.dist(params, 3).log_prob(x).mean()
        loss = recon + self.beta * q.commitment_loss
        if not self.quantizer.ema:
            loss = loss + q.codebook_loss
        mse = (self.likelihood.mean(params, 3) - x).pow(2).mean()
        return {
            "loss": loss, "recon": recon, "mse": mse.detach(),
            "codebook": q.codebook_loss.detach(), "commitment": q.commitment_loss.detach(),
            "perplexity": q.perplexity, "usage": q.usage,
        }  # fmt: skip

    # -- Pyro model and guide ---------------------------------------------------------------
    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is not None:
            self.check_x(x)
        batch = 1 if x is None else x.shape[0]
        logits = torch.zeros(*self.latent_shape, self.num_codes, device=self._device())
        with pyro.plate("data", batch):
            z = pyro.sample("z", dist.Categorical(logits=logits).to_event(2))
            params = self.decode_codes(z)
            return pyro.sample("x", self.likelihood.dist(params, 3), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("the guide q(z | x) needs observations x, got None")
        idx = self.codes(x)
        with pyro.plate("data", x.shape[0]):
            # q(z|x) is a point mass on the nearest codes; its log-density is 0.
            return pyro.sample("z", dist.Delta(idx, event_dim=2))

    def kl_constant(self) -> float:
        """KL(q(z|x) || p(z)) = h w log K nats for the point-mass guide and uniform prior."""
        return math.prod(self.latent_shape) * math.log(self.num_codes)

    # -- conveniences ------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return self.quantizer.codebook.device

    @torch.no_grad()
    def sample(self, num_samples: int, mean: bool = True) -> torch.Tensor:
        """Decodes code grids from the stage-2 prior (uniform codes without one): returns
        ``(num_samples, C, H, W)``; the likelihood mean unless ``mean=False``."""
        check_num_samples(num_samples)
        prior: Any = self.prior
        if prior is not None:
            idx = code_grids(prior.sample(num_samples)).to(self._device())
        else:
            idx = torch.randint(
                self.num_codes, (num_samples, *self.latent_shape), device=self._device()
            )
        params = self.decode_codes(idx)
        if mean:
            return self.likelihood.mean(params, 3)
        return self.likelihood.dist(params, 3).sample()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Likelihood mean of p(x | z_q(x)), shaped like ``x``."""
        return self.likelihood.mean(self.decode_codes(self.codes(x)), 3)
