r"""VQ-VAE-2 (Razavi et al. 2019): a top code grid for global structure, a finer bottom grid
conditioned on it, one decoder from both.

Stage 1 (Algorithm 1 of the paper) encodes and quantizes twice, top first,

    e_top = Q_top(E_top(x)),   e_bottom = Q_bottom(E_bottom(x, e_top)),   x ~ p(x | e_top, e_bottom)

and minimizes, per example and summed over both grids, the VQ-VAE loss of each level (eq. 2)

    L = -log p(x | e_top, e_bottom) + sum_l ||sg[z_l] - e_l||^2 + beta ||z_l - sg[e_l]||^2,

with straight-through gradients through both quantizers (the quantizer is
:class:`~pyrogen.nn.VectorQuantizer`, as in :class:`~pyrogen.models.VQVAE`). Stage 2
(Algorithm 2) fits a PixelCNN p(z_top) to the top grids and a conditional PixelCNN
p(z_bottom | z_top) to the bottom grids (:meth:`PixelCNN.for_codes
<pyrogen.models.PixelCNN.for_codes>`, the second with ``cond_codes``); sampling runs top
prior -> bottom prior -> decoder. In Pyro terms the guide is a point mass on both code grids
(sites ``"z1"`` bottom, nearest the data, and ``"z2"`` top) and the stage-1 prior is uniform,
so the KL is the constant h w log K_bottom + h' w' log K_top.
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
from pyrogen.models.vq_vae import (
    check_grid_image_shape,
    code_grids,
    decoder_trunk,
    encoder_trunk,
)
from pyrogen.nn.quantize import Quantized, VectorQuantizer
from pyrogen.validation import (
    check_num_samples,
    check_observations,
    check_positive_int,
    check_shape,
    parameter_dtype,
)


def _upsample(c_in: int, c_out: int, h: int, w: int) -> nn.ConvTranspose2d:
    """Stride-2 transposed convolution from the top grid ``ceil(h/2) x ceil(w/2)`` to ``h x w``
    (the inverse geometry of a 3x3 stride-2 convolution with padding 1)."""
    return nn.ConvTranspose2d(
        c_in, c_out, 3, stride=2, padding=1, output_padding=(1 - h % 2, 1 - w % 2)
    )


class VQVAE2(PyroModel):
    r"""Two-level VQ-VAE: ``(C, H, W)`` images -> a bottom grid ``(H/4, W/4)`` of codes and a
    top grid ``(ceil(H/8), ceil(W/8))`` of codes (28x28 -> 7x7 and 4x4).

    The bottom encoder's features (at H/4) are reduced by a stride-2 convolution to the top
    grid and quantized; the top codes, brought back to H/4 by a transposed convolution, are
    concatenated with those features and quantized by the bottom codebook. The decoder reads
    the bottom codes concatenated with an upsampling of the top codes.

    Args:
        x_shape: image shape ``(C, H, W)``, H and W divisible by 4.
        num_codes: bottom codebook size K_bottom.
        num_top_codes: top codebook size K_top (default: ``num_codes``).
        code_dim: code dimension D of both codebooks.
        hidden: channels of the convolutional trunks.
        likelihood: observation model p(x | codes) (``"continuous_bernoulli"`` for grey levels
            in [0, 1], ``"bernoulli"``, ``"gaussian"``).
        beta: commitment weight (the paper: 0.25).
        ema: EMA codebook updates instead of the codebook loss (both levels).
        init: codebook initialization, ``"uniform"`` or ``"data"`` (both levels).
        top_prior: optional stage-2 prior with ``sample(n) -> (n, [1,] h', w')``, such as
            ``PixelCNN.for_codes(num_top_codes, (h', w'))``.
        bottom_prior: optional stage-2 prior with ``sample(n, y=top) -> (n, [1,] h, w)``, such
            as ``PixelCNN.for_codes(num_codes, (h, w), cond_codes=num_top_codes)``.

    Example:
        >>> vq = VQVAE2((1, 28, 28), num_codes=16, code_dim=4, hidden=8)
        >>> top, bottom = vq.codes(torch.rand(3, 1, 28, 28))
        >>> top.shape, bottom.shape, vq.sample(2).shape
        (torch.Size([3, 4, 4]), torch.Size([3, 7, 7]), torch.Size([2, 1, 28, 28]))

    References:
        Generating Diverse High-Fidelity Images with VQ-VAE-2, A. Razavi, A. van den Oord,
        O. Vinyals, 2019, eq. (2), Algorithms 1 and 2. https://arxiv.org/abs/1906.00446
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 28, 28),
        num_codes: int = 64,
        num_top_codes: int | None = None,
        code_dim: int = 16,
        hidden: int = 64,
        likelihood: str | Likelihood = "continuous_bernoulli",
        beta: float = 0.25,
        ema: bool = False,
        init: str = "uniform",
        top_prior: nn.Module | None = None,
        bottom_prior: nn.Module | None = None,
    ):
        super().__init__()
        c, h, w = check_grid_image_shape(x_shape, "VQVAE2")
        hidden = check_positive_int(hidden, "hidden")
        self.x_shape = (c, h, w)
        self.latent_shape = (h // 4, w // 4)
        hb, wb = self.latent_shape
        self.top_shape = ((hb + 1) // 2, (wb + 1) // 2)
        self.likelihood = get_likelihood(likelihood)
        self.beta = float(beta)
        p = self.likelihood.params_per_value
        self.encoder_bottom = nn.Sequential(*encoder_trunk(c, hidden))
        self.encoder_top = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, code_dim, 1),
        )  # fmt: skip
        # E_bottom(x, e_top): the top codes decoded to the bottom grid, next to x's features.
        self.top_to_bottom = _upsample(code_dim, hidden, hb, wb)
        self.pre_quantize_bottom = nn.Conv2d(2 * hidden, code_dim, 1)
        top_k = num_codes if num_top_codes is None else num_top_codes
        self.quantizer_top = VectorQuantizer(top_k, code_dim, ema=ema, init=init)
        self.quantizer_bottom = VectorQuantizer(num_codes, code_dim, ema=ema, init=init)
        self.upsample_top = _upsample(code_dim, code_dim, hb, wb)
        self.decoder = decoder_trunk(2 * code_dim, hidden, p * c)
        # One container, so that VQVAETrainer leaves the stage-2 priors ("prior.*") alone.
        self.prior = nn.ModuleDict()
        if top_prior is not None:
            self.prior["top"] = top_prior
        if bottom_prior is not None:
            self.prior["bottom"] = bottom_prior

    @property
    def num_codes(self) -> tuple[int, int]:
        """Codebook sizes ``(K_top, K_bottom)``."""
        return self.quantizer_top.num_codes, self.quantizer_bottom.num_codes

    def check_x(self, x: torch.Tensor) -> None:
        """Shape always; dtype, finiteness and support when Pyro validation is enabled."""
        check_observations(x, self.x_shape, parameter_dtype(self), self.likelihood.check_support)

    def quantize(self, x: torch.Tensor) -> tuple[Quantized, Quantized]:
        """Encodes ``(B, C, H, W)`` and quantizes top, then bottom given the top codes:
        returns ``(top, bottom)`` :class:`~pyrogen.nn.Quantized` tuples."""
        self.check_x(x)
        features = self.encoder_bottom(x)  # (B, hidden, H/4, W/4)
        top = self.quantizer_top(self.encoder_top(features))  # z_q (B, D, h', w')
        z_bottom = self.pre_quantize_bottom(
            torch.cat([features, self.top_to_bottom(top.z_q)], dim=1)
        )
        return top, self.quantizer_bottom(z_bottom)

    def codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Code indices ``(top (B, h', w'), bottom (B, h, w))`` of images ``(B, C, H, W)``."""
        with torch.no_grad():
            top, bottom = self.quantize(x)
        return top.indices, bottom.indices

    def _decode(self, e_top: torch.Tensor, e_bottom: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([e_bottom, self.upsample_top(e_top)], dim=1))

    def decode_codes(self, top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
        """Raw likelihood parameters ``(B, P*C, H, W)`` for code grids ``top (B, h', w')`` and
        ``bottom (B, h, w)``."""
        check_shape(top, self.top_shape, "top codes")
        check_shape(bottom, self.latent_shape, "bottom codes")
        return self._decode(self.quantizer_top.lookup(top), self.quantizer_bottom.lookup(bottom))

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        r"""Stage-1 terms per example: ``loss`` = recon + codebook + beta * commitment (both
        summed over the levels), ``recon`` (-log p(x|codes)), ``mse`` (squared error of the
        mean per pixel), and per level (suffix ``_top``, ``_bottom``) the ``codebook`` and
        ``commitment`` terms, ``perplexity`` and ``usage``. With EMA the codebook terms are
        reported but not added."""
        top, bottom = self.quantize(x)
        params = self._decode(top.z_q, bottom.z_q)
        recon = -self.likelihood.dist(params, 3).log_prob(x).mean()
        codebook = top.codebook_loss + bottom.codebook_loss
        commitment = top.commitment_loss + bottom.commitment_loss
        loss = recon + self.beta * commitment
        if not self.quantizer_bottom.ema:
            loss = loss + codebook
        mse = (self.likelihood.mean(params, 3) - x).pow(2).mean()
        out = {
            "loss": loss, "recon": recon, "mse": mse.detach(),
            "codebook": codebook.detach(), "commitment": commitment.detach(),
        }  # fmt: skip
        for name, q in (("top", top), ("bottom", bottom)):
            out[f"codebook_{name}"] = q.codebook_loss.detach()
            out[f"commitment_{name}"] = q.commitment_loss.detach()
            out[f"perplexity_{name}"] = q.perplexity
            out[f"usage_{name}"] = q.usage
        return out

    # -- Pyro model and guide ---------------------------------------------------------------
    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is not None:
            self.check_x(x)
        batch = 1 if x is None else x.shape[0]
        k_top, k_bottom = self.num_codes
        device = self._device()
        with pyro.plate("data", batch):
            top_logits = torch.zeros(*self.top_shape, k_top, device=device)
            z2 = pyro.sample("z2", dist.Categorical(logits=top_logits).to_event(2))
            bottom_logits = torch.zeros(*self.latent_shape, k_bottom, device=device)
            z1 = pyro.sample("z1", dist.Categorical(logits=bottom_logits).to_event(2))
            params = self.decode_codes(z2, z1)
            return pyro.sample("x", self.likelihood.dist(params, 3), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x is None:
            raise ValueError("the guide q(z1, z2 | x) needs observations x, got None")
        top, bottom = self.codes(x)
        with pyro.plate("data", x.shape[0]):
            # Point masses on the nearest codes; their log-density is 0.
            z2 = pyro.sample("z2", dist.Delta(top, event_dim=2))
            z1 = pyro.sample("z1", dist.Delta(bottom, event_dim=2))
        return z2, z1

    def kl_constant(self) -> float:
        """KL(q || p) = h w log K_bottom + h' w' log K_top nats (point masses, uniform prior)."""
        k_top, k_bottom = self.num_codes
        bottom = math.prod(self.latent_shape) * math.log(k_bottom)
        return bottom + math.prod(self.top_shape) * math.log(k_top)

    # -- conveniences ------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return self.quantizer_bottom.codebook.device

    @torch.no_grad()
    def sample_codes(self, num_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top grids from the top prior, then bottom grids from the bottom prior given them
        (uniform codes for a level without a prior): ``(top, bottom)``."""
        check_num_samples(num_samples)
        k_top, k_bottom = self.num_codes
        device = self._device()
        priors: dict[str, Any] = dict(self.prior.items())
        if "top" in priors:
            top = code_grids(priors["top"].sample(num_samples)).to(device)
        else:
            top = torch.randint(k_top, (num_samples, *self.top_shape), device=device)
        if "bottom" in priors:
            bottom = code_grids(priors["bottom"].sample(num_samples, y=top)).to(device)
        else:
            bottom = torch.randint(k_bottom, (num_samples, *self.latent_shape), device=device)
        return top, bottom

    @torch.no_grad()
    def sample(self, num_samples: int, mean: bool = True) -> torch.Tensor:
        """Decodes code grids from the stage-2 priors: returns ``(num_samples, C, H, W)``; the
        likelihood mean unless ``mean=False``."""
        params = self.decode_codes(*self.sample_codes(num_samples))
        if mean:
            return self.likelihood.mean(params, 3)
        return self.likelihood.dist(params, 3).sample()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Likelihood mean of p(x | codes(x)), shaped like ``x``."""
        return self.likelihood.mean(self.decode_codes(*self.codes(x)), 3)
