r"""Variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014) in Pyro syntax.

Generative model and amortized guide::

    p(z) = N(0, I),   p(x | z) = likelihood(decoder(z)),
    q(z | x) = N(mu(x), diag sigma(x)^2)    (optionally pushed through K flow steps),

trained by maximizing ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)) <= log p(x).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.models.likelihoods import Likelihood, get_likelihood
from pyrogen.nn import MLP, ConvDecoder, ConvEncoder, activation
from pyrogen.transforms import ConditionalAffineAutoregressive, ConditionalPlanar, ConditionalRadial
from pyrogen.validation import (
    check_num_samples,
    check_observations,
    check_positive_int,
    check_shape,
    check_sizes,
    check_x_shape,
    parameter_dtype,
)


class VAE(PyroModel):
    r"""Gaussian-latent VAE with an MLP or convolutional encoder and decoder.

    Args:
        x_shape: shape of one observation, e.g. ``(1, 28, 28)`` or ``(784,)``.
        z_dim: number of latent dimensions.
        hidden: hidden sizes of the MLP encoder and decoder (the decoder mirrors them).
        likelihood: ``"bernoulli"`` (binary data), ``"continuous_bernoulli"`` (grey levels in
            [0, 1]) or ``"gaussian"`` (learned per-pixel variance), or a
            :class:`~pyrogen.models.likelihoods.Likelihood`.
        arch: ``"mlp"`` or ``"conv"`` (images with sides divisible by 4).
        act: activation name.
        min_scale: floor added to the posterior standard deviation.
        flow: ``None`` (Gaussian guide), ``"planar"``, ``"radial"`` (amortized flows whose
            parameters are a linear function of the encoder's last hidden layer h) or
            ``"iaf"`` (inverse autoregressive flow whose MADE reads h as context). The guide
            samples ``z = f_K o ... o f_1(z_0)``, ``z_0 ~ q_0(z | x)``, reparameterized.
        flow_length: K, the number of flow steps.
        flow_hidden: hidden sizes of each IAF step's MADE (default ``(2 z_dim, 2 z_dim)``).

    Raises:
        ValueError: ``x_shape``, ``z_dim`` or ``hidden`` (at least one layer) holds a size
            that is not a positive int, or an unknown ``arch``, ``likelihood`` or ``flow``.

    Example:
        >>> import torch, pyro
        >>> from pyrogen.models import VAE
        >>> vae = VAE((1, 8, 8), z_dim=2, hidden=(16,))
        >>> x = torch.zeros(5, 1, 8, 8)
        >>> loc, scale = vae.encode(x)
        >>> loc.shape, vae.sample(3).shape
        (torch.Size([5, 2]), torch.Size([3, 1, 8, 8]))

    References:
        Auto-Encoding Variational Bayes, D. P. Kingma, M. Welling, 2014, eq. (10).
        https://arxiv.org/abs/1312.6114
        Variational Inference with Normalizing Flows, D. J. Rezende, S. Mohamed, 2015,
        eq. (15) (flow guide). https://arxiv.org/abs/1505.05770
        Improved Variational Inference with Inverse Autoregressive Flow, D. P. Kingma et al.,
        2016, section 4 (IAF guide). https://arxiv.org/abs/1606.04934
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int = (1, 28, 28),
        z_dim: int = 50,
        hidden: Sequence[int] = (200, 200),
        likelihood: str | Likelihood = "bernoulli",
        arch: str = "mlp",
        act: str = "tanh",
        min_scale: float = 1e-4,
        flow: str | None = None,
        flow_length: int = 4,
        flow_hidden: Sequence[int] | None = None,
    ):
        super().__init__()
        self.x_shape = check_x_shape(x_shape)
        self.z_dim = check_positive_int(z_dim, "z_dim")
        hidden = check_sizes(hidden, "hidden")
        self.likelihood = get_likelihood(likelihood)
        self.min_scale = min_scale
        self.arch = arch
        x_dim = int(torch.Size(self.x_shape).numel())
        p = self.likelihood.params_per_value
        if arch == "mlp":
            self.encoder_net: nn.Module = MLP(x_dim, tuple(hidden)[:-1], hidden[-1], act)
            self.encoder_act = activation(act)
            self.decoder_net: nn.Module = MLP(z_dim, tuple(reversed(hidden)), p * x_dim, act)
            enc_out = hidden[-1]
        elif arch == "conv":
            enc_out = hidden[-1]
            self.encoder_net = ConvEncoder(self.x_shape, enc_out, act=act)
            self.encoder_act = activation(act)
            self.decoder_net = ConvDecoder(z_dim, self.x_shape, p * self.x_shape[0], act=act)
        else:
            raise ValueError(f"unknown arch {arch!r}; expected 'mlp' or 'conv'")
        self.loc_head = nn.Linear(enc_out, z_dim)
        self.scale_head = nn.Linear(enc_out, z_dim)
        self.flow = flow
        self.flows = self._make_flows(flow, flow_length, enc_out, flow_hidden)

    def _make_flows(
        self, flow: str | None, length: int, context_dim: int, hidden: Sequence[int] | None
    ) -> nn.ModuleList | None:
        if flow is None:
            return None
        if length < 1:
            raise ValueError(f"flow_length must be at least 1, got {length}")
        d = self.z_dim
        if flow == "planar":
            return nn.ModuleList(ConditionalPlanar(d, context_dim) for _ in range(length))
        if flow == "radial":
            return nn.ModuleList(ConditionalRadial(d, context_dim) for _ in range(length))
        if flow == "iaf":
            hidden = (2 * d, 2 * d) if hidden is None else tuple(hidden)
            natural = torch.arange(1, d + 1)
            # Alternate the ordering so each coordinate is conditioned on every other one.
            return nn.ModuleList(
                ConditionalAffineAutoregressive(
                    d, context_dim, hidden, order=natural if k % 2 == 0 else natural.flip(0)
                )
                for k in range(length)
            )
        raise ValueError(f"unknown flow {flow!r}; expected None, 'planar', 'radial' or 'iaf'")

    # -- networks -------------------------------------------------------------------------
    @property
    def event_dim(self) -> int:
        return len(self.x_shape)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x) (of the base q_0 when there is a flow):
        ``(B, *x_shape) -> ((B, z_dim), (B, z_dim))``."""
        return self._encode(x)[1:]

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(h, loc, scale)``: last hidden layer ``(B, H)`` and the parameters of q_0."""
        if self.arch == "mlp":
            x = x.reshape(*x.shape[: x.dim() - self.event_dim], -1)
        h = self.encoder_act(self.encoder_net(x))
        return h, self.loc_head(h), F.softplus(self.scale_head(h)) + self.min_scale

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        """q(z | x) as a distribution with batch shape ``(B,)`` and event shape ``(z_dim,)``:
        a diagonal Normal, or a flow-transformed one (still reparameterized)."""
        h, loc, scale = self._encode(x)
        base = dist.Normal(loc, scale).to_event(1)
        if self.flows is None:
            return base
        return dist.TransformedDistribution(base, [cast(Any, f).condition(h) for f in self.flows])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw likelihood parameters of p(x | z): ``(..., z_dim) -> (..., P * C, H, W)``."""
        out = self.decoder_net(z)
        if self.arch == "mlp":
            p = self.likelihood.params_per_value
            lead = self.x_shape[0] * p
            out = out.reshape(*out.shape[:-1], lead, *self.x_shape[1:])
        return out

    @torch.no_grad()
    def init_output_bias(self, x: torch.Tensor) -> bool:
        """Starts the decoder's output bias at the data marginal: with the last layer's weights
        near zero, p(x | z) begins as each value's marginal over ``x`` ``(N, *x_shape)``
        (Bernoulli: the log-odds of the mean image, as in the IWAE authors' code; Gaussian:
        each value's mean and standard deviation). A convolutional decoder has one bias per
        channel: there, each channel's marginal over every pixel. Returns ``False``, changing
        nothing, for a likelihood without a closed-form marginal (continuous Bernoulli)."""
        check_shape(x, self.x_shape)
        x = x.to(dtype=torch.get_default_dtype())
        layer = [
            m for m in self.decoder_net.modules() if isinstance(m, nn.Linear | nn.ConvTranspose2d)
        ][-1]
        if self.arch == "mlp":
            params = self.likelihood.marginal_params(x.reshape(len(x), *self.x_shape))
        else:  # every pixel of a channel is one example of that channel's marginal
            params = self.likelihood.marginal_params(x.movedim(1, -1).reshape(-1, x.shape[1]))
        if params is None or layer.bias is None:
            return False
        layer.bias.copy_(params.reshape(-1).to(layer.bias))
        return True

    # -- Pyro model and guide ---------------------------------------------------------------
    def check_x(self, x: torch.Tensor) -> None:
        """Shape always; dtype, finiteness and support when Pyro validation is enabled."""
        check_observations(x, self.x_shape, parameter_dtype(self), self.likelihood.check_support)

    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is not None:
            self.check_x(x)
        batch = 1 if x is None else x.shape[0]
        zeros = self.loc_head.weight.new_zeros(self.z_dim)
        with pyro.plate("data", batch):
            z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            params = self.decode(z)
            return pyro.sample("x", self.likelihood.dist(params, self.event_dim), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("the guide q(z | x) needs observations x, got None")
        self.check_x(x)
        q = self.posterior(x)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", q)

    # -- conveniences ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples: int, mean: bool = False) -> torch.Tensor:
        """Draws ``(num_samples, *x_shape)`` from p(x); ``mean=True`` gives E[x | z] instead."""
        check_num_samples(num_samples)
        w = self.loc_head.weight
        z = torch.randn(num_samples, self.z_dim, device=w.device, dtype=w.dtype)
        params = self.decode(z)
        if mean:
            return self.likelihood.mean(params, self.event_dim)
        return self.likelihood.dist(params, self.event_dim).sample()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x | z = mu(x)], shaped like ``x``."""
        loc, _ = self.encode(x)
        return self.likelihood.mean(self.decode(loc), self.event_dim)
