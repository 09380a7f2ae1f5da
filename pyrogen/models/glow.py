r"""Glow: a multi-scale flow whose steps are ActNorm, an invertible 1x1 convolution and an
affine coupling, with half of the channels factored out after every level but the last.

From data to latents, level ``l = 1..L`` computes

    h <- squeeze(h)                                   (C, H, W) -> (4C, H/2, W/2)
    h <- step_K(... step_1(h))                        step = coupling o conv1x1 o actnorm
    (h, z_l) <- split(h)  if l < L,   else  z_L = h   half of the channels factored out

and the density is, with ``h_l`` the half kept at level ``l`` (a function of ``z_{>l}``),

    log p(y) = log N(z_L; 0, I) + sum_{l<L} log N(z_l; mu_l(h_l), diag sigma_l(h_l)^2)
               + sum_steps log |det d(step output) / d(step input)|.

The factored-out prior is learned and conditioned on the kept half (a zero-initialized
convolution gives ``(mu_l, log sigma_l)``, as in Glow), or the standard normal
(``learn_prior=False``, as in RealNVP). Sampling at temperature ``T`` draws
``z_L = T eps`` and ``z_l = mu_l + T sigma_l eps``: every Gaussian's standard deviation is
multiplied by ``T``, the reduced-temperature sampling of Glow's experiments (section 5).

Dequantization (``dequantize=K`` levels, e.g. 256 for 8-bit images). Pixel values
``k in {0..K-1}^D`` become ``y = (k + u) / K`` with ``u ~ U[0, 1)^D``, so the cell of ``k`` is
the cube ``k/K + [0, 1/K)^D`` of volume ``K^{-D}``. The discrete model the density ``p``
defines is ``P(k) = int_cell p(y) dy = K^{-D} E_u p((k + u) / K)``; Jensen's inequality gives

    log P(k) >= E_u log p((k + u) / K) - D log K,

hence ``bits/dim = -log2 P(k) / D <= E_u[-log2 p(y)] / D + log2 K`` (``+ 8`` for K = 256).
A density uniform on ``[0, 1)^D`` (``p = 1``) thus scores exactly ``log2 K`` bits/dim, the
cost of sending every pixel uncompressed. :meth:`Glow.log_prob` is the one-sample estimate
``log p(y) - D log K`` of the lower bound on ``log P(k)``.

References:
    Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal, 2018,
    section 3, Figure 2 (one step, multi-scale architecture), table 1.
    https://arxiv.org/abs/1807.03039
    Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
    section 3.6 (multi-scale architecture, factoring out) and section 4.1 (dequantization).
    https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, cast

import pyro
import torch
from pyro.distributions import TorchDistribution
from pyro.nn import pyro_method
from torch import nn
from torch.distributions import Transform, constraints

from pyrogen.models.base import PyroModel
from pyrogen.transforms import ActNorm, ConvAffineCoupling, InvertibleConv1x1, Squeeze
from pyrogen.validation import (
    check_image_shape,
    check_num_samples,
    check_observations,
    check_positive_int,
    check_unit_interval,
)


class GlowLatents(NamedTuple):
    """What :meth:`Glow.encode` returns.

    Attributes:
        z: one latent per level, ``z[l]`` ``(B, C_l, H_l, W_l)``; ``z[-1]`` is the top one.
        cond: the kept half ``h_l`` that the prior of ``z[l]`` is conditioned on (``None``
            for the top level).
        log_det: ``log |det dz/dy|`` of the whole map from data to latents, ``(B,)``.
    """

    z: list[torch.Tensor]
    cond: list[torch.Tensor | None]
    log_det: torch.Tensor


class _GlowDistribution(TorchDistribution):
    """The density of ``v = scale * y``, y ~ :class:`Glow`, as a Pyro distribution with batch
    shape ``(B,)``: ``log p(v) = log p_glow(v / scale) - D log(scale)``. With ``scale = K``
    the dequantized levels ``v = k + u`` fill unit cells, so ``log p(v)`` is the one-draw bound
    on ``log P(x)`` in nats (as for :class:`~pyrogen.models.FlowDensity`)."""

    arg_constraints: dict[str, constraints.Constraint] = {}
    support = constraints.independent(constraints.real, 3)

    def __init__(self, glow: Glow, batch: int, scale: float = 1.0):
        self.glow, self.scale = glow, float(scale)
        super().__init__(torch.Size((batch,)), torch.Size(glow.x_shape), validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        lead = value.shape[:-3]
        y = value.reshape(-1, *self.glow.x_shape) / self.scale
        log_p = self.glow.log_density(y) - self.glow.dim * math.log(self.scale)
        return log_p.reshape(lead)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:  # type: ignore[override]
        shape = torch.Size(sample_shape) + self.batch_shape
        y = self.glow.sample(max(1, shape.numel()), quantize=False)
        return self.scale * y.reshape(*shape, *self.glow.x_shape)


class Glow(PyroModel):
    r"""Glow density over images ``(C, H, W)``, observed at site ``"x"``.

    Args:
        x_shape: ``(C, H, W)``; H and W divisible by ``2^num_levels``
            (MNIST's 28 x 28 allows 2 levels: 28 -> 14 -> 7).
        num_levels: L, the number of scales.
        num_steps: K, the steps (actnorm, 1x1 convolution, coupling) per level.
        hidden: channels of the coupling networks' hidden layers.
        coupling: ``"affine"`` or ``"additive"``.
        learn_prior: the factored-out halves get a learned Gaussian conditioned on the kept
            half (Glow); false: the standard normal (RealNVP).
        dequantize: number of levels K of discrete data in [0, 1] (``x = k / (K - 1)``, what
            :func:`pyrogen.data.load` returns for 8-bit images with K = 256), or ``None`` for
            continuous data.
        log_scale_bound: bound on the couplings' log-scales (see
            :class:`~pyrogen.transforms.ConvAffineCoupling`).

    Example:
        >>> import torch
        >>> from pyrogen.models import Glow
        >>> _ = torch.manual_seed(0)
        >>> m = Glow((1, 4, 4), num_levels=2, num_steps=1, hidden=4)
        >>> x = torch.randint(0, 256, (3, 1, 4, 4)) / 255.0
        >>> m.bits_per_dim(x).shape, m.sample(2, temperature=0.7).shape
        (torch.Size([3]), torch.Size([2, 1, 4, 4]))

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions, D. P. Kingma, P. Dhariwal,
        2018, section 3 and Figure 2. https://arxiv.org/abs/1807.03039
        Density estimation using Real NVP, L. Dinh, J. Sohl-Dickstein, S. Bengio, 2016,
        section 3.6. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 28, 28),
        num_levels: int = 2,
        num_steps: int = 4,
        hidden: int = 64,
        coupling: str = "affine",
        learn_prior: bool = True,
        dequantize: int | None = 256,
        log_scale_bound: float = 3.0,
    ):
        super().__init__()
        self.x_shape = check_image_shape(x_shape, "Glow")
        c, h, w = self.x_shape
        self.num_levels = check_positive_int(num_levels, "num_levels")
        check_positive_int(num_steps, "num_steps")
        if h % 2**num_levels or w % 2**num_levels:
            raise ValueError(
                f"{num_levels} level(s) need H and W divisible by {2**num_levels}, got "
                f"x_shape {self.x_shape}; use fewer levels or pad the images"
            )
        if dequantize is not None and dequantize < 2:
            raise ValueError(f"dequantize must be a number of levels >= 2, got {dequantize}")
        self.dequantize, self.learn_prior = dequantize, learn_prior
        self.dim = c * h * w
        self.squeeze = Squeeze()
        levels: list[nn.Module] = []
        priors: list[nn.Module] = []
        self.z_shapes: list[tuple[int, int, int]] = []
        for level in range(num_levels):
            c, h, w = 4 * c, h // 2, w // 2
            steps: list[nn.Module] = []
            for _ in range(num_steps):  # in the order applied from data to latents
                steps += [ActNorm(c, event_dim=3), InvertibleConv1x1(c)]
                steps.append(ConvAffineCoupling(c, hidden, coupling, False, log_scale_bound))
            levels.append(nn.ModuleList(steps))
            if level < num_levels - 1:
                c = c // 2  # the kept half and z_level both have C/2 channels
                if learn_prior:
                    prior = nn.Conv2d(c, 2 * c, 3, padding=1)  # (mean, log_std) of z_level
                    for p in prior.parameters():
                        nn.init.zeros_(p)  # starts at N(0, I), as in Glow
                    priors.append(prior)
            self.z_shapes.append((c, h, w))
        self.levels = nn.ModuleList(levels)
        self.split_priors = nn.ModuleList(priors)
        self.register_buffer("_zero", torch.zeros(()))

    # -- the flow --------------------------------------------------------------------------
    def _steps(self, level: int) -> list[Transform]:
        """The transforms of one level, in the order applied from data to latents."""
        return [cast(Transform, t) for t in cast(nn.ModuleList, self.levels[level])]

    def prior(self, level: int, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, log_std)`` of ``z[level]``'s Gaussian given the kept half ``cond``
        ``(B, C_l, H_l, W_l)`` (``None`` at the top level, whose prior is N(0, I))."""
        shape = self.z_shapes[level]
        if cond is None or not self.learn_prior:
            batch = 1 if cond is None else cond.shape[0]
            zero = self._zero.expand(batch, *shape)
            return zero, zero
        mean, log_std = self.split_priors[level](cond).chunk(2, dim=1)
        return mean, log_std

    def encode(self, y: torch.Tensor) -> GlowLatents:
        """Latents of continuous data ``y`` ``(B, C, H, W)``, with ``log |det dz/dy|``."""
        h, log_det = y, y.new_zeros(y.shape[0])
        zs: list[torch.Tensor] = []
        conds: list[torch.Tensor | None] = []
        for level in range(self.num_levels):
            h = self.squeeze(h)
            for t in self._steps(level):
                h, ld = _inverse_and_log_det(t, h)
                log_det = log_det - ld  # ld = log|det| of the data-ward map
            if level < self.num_levels - 1:
                h, z = h.chunk(2, dim=1)
                zs.append(z)
                conds.append(h)
        return GlowLatents([*zs, h], [*conds, None], log_det)

    def decode(self, z: Sequence[torch.Tensor]) -> torch.Tensor:
        """Data ``(B, C, H, W)`` from one latent per level (as :meth:`encode` returns them)."""
        if len(z) != self.num_levels:
            raise ValueError(f"need {self.num_levels} latents (one per level), got {len(z)}")
        h = z[-1]
        for level in reversed(range(self.num_levels)):
            if level < self.num_levels - 1:
                h = torch.cat([h, z[level]], dim=1)
            for t in reversed(self._steps(level)):
                h = t(h)
            h = self.squeeze.inv(h)
        return h

    def log_density(self, y: torch.Tensor) -> torch.Tensor:
        """log p(y) ``(B,)`` of continuous data ``y`` ``(B, C, H, W)`` (``[0, 1)`` scale
        when dequantizing)."""
        lat = self.encode(y)
        total = lat.log_det
        for level, (z, cond) in enumerate(zip(lat.z, lat.cond)):
            mean, log_std = self.prior(level, cond)
            eps = (z - mean) * torch.exp(-log_std)
            log_n = -0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
            total = total + log_n.sum((1, 2, 3))
        return total

    # -- data ------------------------------------------------------------------------------
    def check_x(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"x must have shape (B, *{self.x_shape}), got {tuple(x.shape)}")
        support = check_unit_interval if self.dequantize is not None else None
        check_observations(x, self.x_shape, self._zero.dtype, support)

    def dequantized(self, x: torch.Tensor) -> torch.Tensor:
        """``y = (k + u) / K`` with ``k = round(x (K - 1))`` and ``u ~ U[0, 1)``."""
        assert self.dequantize is not None
        k = torch.round(x * (self.dequantize - 1))
        return (k + torch.rand_like(x)) / self.dequantize

    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Observes ``"x"`` under ``pyro.plate("data")``: with ``dequantize`` = K, the
        dequantized levels ``K y = k + u`` in [0, K), so that -ELBO is the one-draw bound
        ``-log_prob(x)`` on ``-log P(x)`` in nats; draws one continuous example when ``x`` is
        None."""
        y = None
        scale = 1.0 if self.dequantize is None else float(self.dequantize)
        if x is not None:
            self.check_x(x)
            y = x if self.dequantize is None else self.dequantized(x) * scale
        # The networks run when the trace scores "x", after the model has returned; reading
        # them here, through PyroModule's attribute access, issues their param statements
        # from inside the model so that Pyro's optimizers see them.
        for name, _ in self.named_children():
            getattr(self, name)
        batch = 1 if y is None else y.shape[0]
        with pyro.plate("data", batch):
            return pyro.sample("x", _GlowDistribution(self, batch, scale), obs=y)

    def guide(self, x: torch.Tensor | None = None) -> None:
        """Fully observed: nothing to infer, so SVI with this guide is maximum likelihood."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``(B,)``: with ``dequantize``, the one-sample estimate ``log p(y) - D log K`` of a
        lower bound on the discrete log-probability ``log P(x)``; else ``log p(x)``."""
        self.check_x(x)
        if self.dequantize is None:
            return self.log_density(x)
        return self.log_density(self.dequantized(x)) - self.dim * math.log(self.dequantize)

    def bits_per_dim(self, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        """``-log_prob(x) / (D log 2)`` per example ``(B,)``, averaged over ``num_samples``
        dequantizations: ``E_u[-log2 p(y)] / D + log2 K`` (see the module docstring)."""
        n = check_num_samples(num_samples)
        lp = torch.stack([self.log_prob(x) for _ in range(n)]).mean(0)
        return -lp / (self.dim * math.log(2))

    @torch.no_grad()
    def sample(
        self, num_samples: int, temperature: float = 1.0, quantize: bool = True
    ) -> torch.Tensor:
        """``(num_samples, C, H, W)`` draws with every prior's std scaled by ``temperature``;
        levels ``k / (K - 1)`` in [0, 1] with ``dequantize`` and ``quantize``, else the
        continuous ``y``."""
        n = check_num_samples(num_samples)
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        top = self.z_shapes[-1]
        h = temperature * torch.randn(n, *top, dtype=self._zero.dtype, device=self._zero.device)
        for level in reversed(range(self.num_levels)):
            if level < self.num_levels - 1:
                mean, log_std = self.prior(level, h)
                eps = torch.randn(mean.shape, dtype=h.dtype, device=h.device)
                h = torch.cat([h, mean + temperature * log_std.exp() * eps], dim=1)
            for t in reversed(self._steps(level)):
                h = t(h)
            h = self.squeeze.inv(h)
        if self.dequantize is None or not quantize:
            return h
        k = (h * self.dequantize).floor().clamp(0, self.dequantize - 1)
        return k / (self.dequantize - 1)


def _inverse_and_log_det(t: Transform, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x = t^{-1}(y)`` and ``log |det dy/dx|``; one network pass for a coupling."""
    if isinstance(t, ConvAffineCoupling):
        return t.inverse_and_log_det(y)
    x = t.inv(y)
    return x, t.log_abs_det_jacobian(x, y)
