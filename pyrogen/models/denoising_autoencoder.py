r"""Denoising autoencoder (Vincent et al. 2008) and its generative reading (Bengio et al. 2013).

Training reconstructs the clean x from a corrupted copy :math:`\tilde x \sim C(\tilde x | x)`:

.. math::
    \min_{f, g}\ \mathbb{E}_{x}\, \mathbb{E}_{\tilde x \sim C(\cdot | x)}\, L(x, g(f(\tilde x))).

**Score.** With Gaussian corruption :math:`\tilde x = x + \sigma \epsilon` and squared error,
the optimal reconstruction is :math:`r^*(\tilde x) = \mathbb{E}[x | \tilde x]`, and as
:math:`\sigma \to 0` (Alain & Bengio 2014)

.. math::
    r^*(x) - x = \sigma^2\, \frac{\partial \log p(x)}{\partial x} + o(\sigma^2),

so :math:`(r(x) - x) / \sigma^2` estimates the score of the data density
(:meth:`DenoisingAutoencoder.score`).

**Sampling.** Read the decoder as a reconstruction distribution
:math:`P_\theta(x | \tilde x)` (Bernoulli with mean r for ``"bce"``; Gaussian
:math:`N(r(\tilde x), \mathrm{diag}(s^2))` for ``"mse"``, s fitted by maximum likelihood).
The Markov chain that alternates corruption and reconstruction,

.. math::
    \tilde x_t \sim C(\tilde x | x_t), \qquad x_{t+1} \sim P_\theta(x | \tilde x_t),

has a stationary distribution that tends to the data distribution as
:math:`P_\theta(x | \tilde x)` tends to the true :math:`P(x | \tilde x)` (Bengio et al. 2013,
Theorem 1): :meth:`DenoisingAutoencoder.sample_chain`. Dropping the reconstruction noise, or
the reconstruction altogether, samples something else (a sharpened density, a random walk).

References:
    Extracting and Composing Robust Features with Denoising Autoencoders, P. Vincent,
    H. Larochelle, Y. Bengio, P.-A. Manzagol, ICML 2008, Sec. 2.3 (the criterion, masking
    noise). https://doi.org/10.1145/1390156.1390294
    Stacked Denoising Autoencoders, P. Vincent et al., JMLR 2010 (salt-and-pepper and
    Gaussian noise). https://jmlr.org/papers/v11/vincent10a.html
    What Regularized Auto-Encoders Learn from the Data-Generating Distribution, G. Alain,
    Y. Bengio, JMLR 2014 (r(x) - x estimates sigma^2 times the score).
    https://arxiv.org/abs/1211.4246
    Generalized Denoising Auto-Encoders as Generative Models, Y. Bengio, L. Yao, G. Alain,
    P. Vincent, NeurIPS 2013 (the chain; its stationary distribution, Theorem 1). https://arxiv.org/abs/1305.6663
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.distributions as td
import torch.nn.functional as F
from torch import nn

from pyrogen.models.autoencoder import Autoencoder, reconstruction_loss
from pyrogen.validation import check_finite, check_positive_int, check_positive_number, check_shape

NOISES = ("gaussian", "masking", "salt_and_pepper")


def corrupt(x: torch.Tensor, noise: str, level: float) -> torch.Tensor:
    r"""One draw :math:`\tilde x \sim C(\tilde x | x)`, shaped like ``x``.

    ``"gaussian"``: :math:`\tilde x = x + \sigma\epsilon`, :math:`\epsilon \sim N(0, I)`,
    sigma = ``level``. ``"masking"``: each value is set to 0 with probability ``level``
    (Vincent et al. 2008 zero a fixed fraction; here each value independently).
    ``"salt_and_pepper"``: each value is, with probability ``level``, replaced by 0 or 1 with
    equal probability (Vincent et al. 2010).

    Args:
        x: values ``(B, ...)``.
        noise: one of :data:`NOISES`.
        level: sigma (Gaussian) or the fraction of values hit (masking, salt-and-pepper).
    """
    if noise == "gaussian":
        return x + level * torch.randn_like(x)
    hit = torch.rand_like(x) < level
    if noise == "masking":
        return x.masked_fill(hit, 0.0)
    if noise == "salt_and_pepper":
        salt = (torch.rand_like(x) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)
    raise ValueError(f"unknown corruption {noise!r}; expected one of {NOISES}")


class DenoisingAutoencoder(Autoencoder):
    r"""Autoencoder trained to reconstruct x from :math:`\tilde x \sim C(\tilde x | x)`.

    Same networks and arguments as :class:`~pyrogen.models.Autoencoder`, plus the corruption.
    With ``loss="mse"`` the model also holds the per-value scale s of its Gaussian
    reconstruction distribution :math:`N(r(\tilde x), \mathrm{diag}(s^2))`, fitted by maximum
    likelihood on the residuals :math:`x - r(\tilde x)` (their gradient does not reach the
    networks, which the squared error alone trains, so :math:`r \to \mathbb{E}[x | \tilde x]`).

    Args:
        x_shape, code_dim, hidden, act, code_act, loss: see
            :class:`~pyrogen.models.Autoencoder`.
        noise: corruption, one of :data:`NOISES` (see :func:`corrupt`).
        noise_level: sigma of the Gaussian corruption, or the fraction of values hit.
        min_scale: floor of the reconstruction scale s (values that never vary, e.g. MNIST's
            border pixels, would otherwise drive it to 0).

    Example:
        >>> import torch
        >>> from pyrogen.models import DenoisingAutoencoder
        >>> _ = torch.manual_seed(0)
        >>> dae = DenoisingAutoencoder(2, code_dim=16, code_act="tanh", noise_level=0.1)
        >>> sorted(dae.losses(torch.randn(8, 2)))
        ['loss', 'recon', 'scale_nll']
        >>> dae.sample_chain(torch.zeros(5, 2), num_steps=3).shape
        torch.Size([5, 2])

    References:
        Extracting and Composing Robust Features with Denoising Autoencoders, P. Vincent,
        H. Larochelle, Y. Bengio, P.-A. Manzagol, ICML 2008, Sec. 2.3.
        https://doi.org/10.1145/1390156.1390294
        Generalized Denoising Auto-Encoders as Generative Models, Y. Bengio, L. Yao,
        G. Alain, P. Vincent, NeurIPS 2013. https://arxiv.org/abs/1305.6663
    """

    def __init__(
        self,
        x_shape: int | Sequence[int],
        code_dim: int,
        hidden: Sequence[int] = (),
        act: str = "relu",
        code_act: str | None = "sigmoid",
        loss: str = "mse",
        noise: str = "gaussian",
        noise_level: float = 0.1,
        min_scale: float = 1e-3,
    ):
        super().__init__(x_shape, code_dim, hidden, act, code_act, loss)
        if noise not in NOISES:
            raise ValueError(f"unknown corruption {noise!r}; expected one of {NOISES}")
        self.noise = noise
        self.noise_level = check_positive_number(noise_level, "noise_level")
        if noise != "gaussian" and self.noise_level > 1:
            raise ValueError(
                f"noise_level is the fraction of values {noise} noise hits, in (0, 1]; got "
                f"{noise_level}"
            )
        self.min_scale = check_positive_number(min_scale, "min_scale")
        # The reconstruction scale starts at 1 (softplus^-1(1) = log(e - 1)).
        start = math.log(math.expm1(1.0))
        self.raw_scale = nn.Parameter(torch.full((self.x_dim,), start)) if loss == "mse" else None

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\tilde x \sim C(\tilde x | x)` with this model's corruption, shaped like x."""
        return corrupt(x, self.noise, self.noise_level)

    def scale(self) -> torch.Tensor:
        """The scale s ``(D,)`` of the Gaussian reconstruction distribution (``"mse"`` only)."""
        if self.raw_scale is None:
            raise ValueError(
                "a Bernoulli reconstruction distribution (loss='bce') has no scale; the "
                "Gaussian one of loss='mse' has"
            )
        return F.softplus(self.raw_scale) + self.min_scale

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        r"""The denoising objective on one corruption of the batch, averaged over examples.

        Returns ``{"loss", "recon"}`` with recon the mean of :math:`L(x, g(f(\tilde x)))`; for
        ``"mse"`` also ``"scale_nll"``, :math:`-\log N(x; r(\tilde x), s^2)` with r held fixed
        (it trains s only), and loss = recon + scale_nll.
        """
        x_flat = x.flatten(1)
        out = self.decoder_output(self.encode(self.corrupt(x)))
        recon = reconstruction_loss(x_flat, out, self.loss).mean()
        if self.raw_scale is None:
            return {"loss": recon, "recon": recon}
        s = self.scale()
        z = (x_flat - out.detach()) / s
        scale_nll = (0.5 * z.pow(2) + s.log() + 0.5 * math.log(2 * math.pi)).sum(-1).mean()
        return {"loss": recon + scale_nll, "recon": recon, "scale_nll": scale_nll}

    def reconstruction_distribution(self, x_tilde: torch.Tensor) -> td.Distribution:
        r""":math:`P_\theta(x | \tilde x)` over flattened values ``(B, D)``: independent
        Bernoulli(r) (``"bce"``) or Normal(r, s) (``"mse"``), event shape ``(D,)``."""
        out = self.decoder_output(self.encode(x_tilde))
        if self.raw_scale is None:
            return td.Independent(td.Bernoulli(logits=out), 1)
        return td.Independent(td.Normal(out, self.scale()), 1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        r"""The score estimate :math:`(r(x) - x) / \sigma^2 \approx \partial \log p(x) /
        \partial x` (Alain & Bengio 2014), shaped like ``x``; Gaussian corruption and squared
        error only, and accurate for small sigma."""
        if self.noise != "gaussian" or self.loss != "mse":
            raise ValueError(
                "the score reading r(x) - x = sigma^2 d log p / dx holds for Gaussian "
                f"corruption and squared error; this model has noise={self.noise!r}, "
                f"loss={self.loss!r}"
            )
        return (self(x) - x) / self.noise_level**2

    @torch.no_grad()
    def sample_chain(
        self, x0: torch.Tensor, num_steps: int, trajectory: bool = False
    ) -> torch.Tensor:
        r"""Runs B chains :math:`\tilde x_t \sim C(\cdot | x_t)`,
        :math:`x_{t+1} \sim P_\theta(\cdot | \tilde x_t)` for ``num_steps`` steps
        (Bengio et al. 2013).

        Args:
            x0: starting points ``(B, *x_shape)``: training examples, or any (the chain
                forgets its start once it mixes).
            num_steps: number of corruption/reconstruction steps.
            trajectory: return every state, not only the last.

        Returns:
            ``(B, *x_shape)``, or ``(num_steps, B, *x_shape)`` with ``trajectory``.
        """
        check_shape(x0, self.x_shape, "x0")
        check_finite(x0, "x0")
        num_steps = check_positive_int(num_steps, "num_steps")
        x, states = x0, []
        for _ in range(num_steps):
            x = self.reconstruction_distribution(self.corrupt(x)).sample()
            x = x.reshape(-1, *self.x_shape)
            if trajectory:
                states.append(x)
        return torch.stack(states) if trajectory else x
