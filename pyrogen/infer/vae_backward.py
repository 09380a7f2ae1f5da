r"""The VAE bound's gradient derived by hand: one forward and one backward pass, no autograd.

For an MLP :class:`~pyrogen.models.VAE` with a Bernoulli decoder the bound of
:class:`~pyrogen.infer.fast_elbo.VAEObjective` is a short chain of affine maps, so its
gradient is a short chain of transposed matrix products and elementwise derivatives. With
``z_k = mu + sigma * eps_k`` and ``log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x)``::

    L = -sum_b F(log w_{1b}, ..., log w_{Kb}),   c_kb = -dL / d log w_kb
    ELBO: F = mean_k log w_kb,                  c_kb = 1 / K
    IWAE: F = logsumexp_k log w_kb - log K,     c_kb = softmax_k(log w_kb)   (Burda eq. 14)

    dL/d logits = c * (sigmoid(logits) - x)                          (Bernoulli, per pixel)
    dL/dz       = J_dec(z)^T dL/d logits + c * z                      (from -log p(z))
    dL/dmu      = sum_k dL/dz_k
    dL/dsigma   = sum_k eps_k * dL/dz_k - (sum_k c_k) / sigma          (from log q = -log sigma)

and with ``analytic_kl`` the two prior/entropy terms are replaced by the derivatives of
``KL(N(mu, sigma^2) || N(0, I))``: ``mu`` and ``sigma - 1 / sigma``, times ``sum_k c_k``. The
networks' own backward kernels (``threshold_backward`` for ReLU, ``tanh_backward``, ...) are
the ones autograd calls, so the gradient equals autograd's up to float rounding (tests
compare them in float64).

What this buys: autograd records about a hundred graph nodes per step and runs each through
its engine; here the step is the GEMMs plus about twenty elementwise kernels, with no graph.
The intermediates are written into buffers kept from one step to the next (:class:`_Workspace`):
a fresh tensor of a few MB is served from new pages that the operating system maps and zeroes
on first touch, which at K = 50 and batch 128 cost a median of 10.6 thousand page faults
and 1.13x the step time (``benchmarks/results/page_faults.md``).
Used by :class:`~pyrogen.infer.SVITrainer` when :func:`supports_manual_backward` says so
(MLP encoder and decoder, a Bernoulli likelihood, an activation listed below); every other
model takes the autograd fast path. With ``compile=True`` the trainer hands this same step
(buffers not reused) to ``torch.compile``, which fuses its elementwise kernels around the
same matrix products.

References:
    Auto-Encoding Variational Bayes, D. P. Kingma, M. Welling, 2014, eq. (7), (10).
    https://arxiv.org/abs/1312.6114

    Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016, eq. (14).
    https://arxiv.org/abs/1509.00519
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.infer.fast_elbo import VAEObjective, log_q_at_noise, log_standard_normal
from pyrogen.models.likelihoods import Bernoulli
from pyrogen.nn.mlp import MLP

_aten = torch.ops.aten

# act(a) written into out.
Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# d act(a) / d a applied to an upstream gradient g, from (g, a = input, h = output), into out.
Backward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _activation(act: nn.Module) -> tuple[Forward, Backward] | None:
    """The forward and backward kernels autograd uses for ``act`` (their ``out=`` forms), or
    ``None`` if ``act`` is not one of ours."""
    if type(act) is nn.ReLU:  # relu is clamp_min(a, 0) in ATen
        return (
            lambda a, out: torch.clamp_min(a, 0, out=out),
            lambda g, a, h, out: _aten.threshold_backward.grad_input(g, h, 0, grad_input=out),
        )
    if type(act) is nn.Tanh:
        return (
            lambda a, out: torch.tanh(a, out=out),
            lambda g, a, h, out: _aten.tanh_backward.grad_input(g, h, grad_input=out),
        )
    if type(act) is nn.ELU:
        alpha = act.alpha
        return (
            lambda a, out: _aten.elu.out(a, alpha, 1, 1, out=out),
            lambda g, a, h, out: _aten.elu_backward.grad_input(
                g, alpha, 1, 1, False, a, grad_input=out
            ),
        )
    if type(act) is nn.Softplus:
        beta, threshold = act.beta, act.threshold
        return (
            lambda a, out: _aten.softplus.out(a, beta, threshold, out=out),
            lambda g, a, h, out: _aten.softplus_backward.grad_input(
                g, a, beta, threshold, grad_input=out
            ),
        )
    if type(act) is nn.LeakyReLU:
        slope = act.negative_slope
        return (
            lambda a, out: _aten.leaky_relu.out(a, slope, out=out),
            lambda g, a, h, out: _aten.leaky_relu_backward.grad_input(
                g, a, slope, False, grad_input=out
            ),
        )
    if type(act) is nn.GELU:
        approximate = act.approximate
        return (
            lambda a, out: _aten.gelu.out(a, approximate=approximate, out=out),
            lambda g, a, h, out: _aten.gelu_backward.grad_input(
                g, a, approximate=approximate, grad_input=out
            ),
        )
    return None


class _Workspace:
    """Named buffers for one step's intermediates, reused by the next step of the same shape.

    Memory stays at one step's peak between steps instead of being returned and mapped
    again; nothing returned to the caller (loss, gradients) lives here. With ``reuse=False``
    every request is a fresh tensor (under ``torch.compile``, which plans memory itself).
    """

    def __init__(self, reuse: bool = True) -> None:
        self._buffers: dict[str, torch.Tensor] = {}
        self.reuse = reuse

    def __call__(self, name: str, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        if not self.reuse:
            return torch.empty(shape, dtype=like.dtype, device=like.device)
        buf = self._buffers.get(name)
        if (
            buf is None
            or buf.shape != shape
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._buffers[name] = buf
        return buf


class _Chain:
    """Linear layers, each followed by an activation (or none), with a manual backward; the
    intermediates live in ``workspace`` under names starting with ``name``."""

    def __init__(
        self, layers: list[tuple[nn.Linear, nn.Module | None]], workspace: _Workspace, name: str
    ):
        self.layers = layers
        self.kernels = [None if act is None else _activation(act) for _, act in layers]
        self.ws, self.name = workspace, name

    def forward(self, inp: torch.Tensor) -> tuple[torch.Tensor, list]:
        """``(N, in) -> (N, out)`` and what the backward pass needs."""
        saved = []
        for i, (lin, _) in enumerate(self.layers):
            shape = (inp.shape[0], lin.out_features)
            # (N, out), as F.linear computes it
            a = torch.addmm(
                lin.bias, inp, lin.weight.t(), out=self.ws(f"{self.name}a{i}", shape, inp)
            )
            kernels = self.kernels[i]
            h = a if kernels is None else kernels[0](a, self.ws(f"{self.name}h{i}", shape, a))
            saved.append((inp, a, h))
            inp = h
        return inp, saved

    def backward(self, saved: list, g: torch.Tensor, input_grad: bool) -> torch.Tensor | None:
        """Accumulates each layer's parameter gradient; returns dL/d input if asked."""
        for i in reversed(range(len(self.layers))):
            lin, _ = self.layers[i]
            inp, a, h = saved[i]
            kernels = self.kernels[i]
            if kernels is not None:
                g = kernels[1](g, a, h, self.ws(f"{self.name}g{i}", g.shape, g))
            _accumulate(lin.weight, torch.mm(g.t(), inp))  # (out, in)
            _accumulate(lin.bias, g.sum(0))
            if i > 0 or input_grad:
                shape = (g.shape[0], lin.in_features)  # (N, in)
                g = torch.mm(g, lin.weight, out=self.ws(f"{self.name}d{i}", shape, g))
        return g if input_grad else None


def _accumulate(param: torch.Tensor, grad: torch.Tensor) -> None:
    """``param.grad += grad``, as autograd accumulates (a fresh tensor when there is none)."""
    if param.grad is None:
        param.grad = grad
    else:
        param.grad.add_(grad)


def _mlp_layers(net: nn.Module, last_act: nn.Module | None) -> list | None:
    if type(net) is not MLP:
        return None
    mods = list(net)
    linears = mods[0::2]
    acts: list[nn.Module | None] = [*mods[1::2], last_act]
    if any(type(m) is not nn.Linear or m.bias is None for m in linears):
        return None
    if any(a is not None and _activation(a) is None for a in acts):
        return None
    return list(zip(linears, acts))


def supports_manual_backward(objective: nn.Module) -> str | None:
    """``None`` when :class:`ManualBackward` applies to ``objective``, else the reason."""
    if not isinstance(objective, VAEObjective):
        return f"the hand-derived backward knows the one-layer VAE, not {type(objective).__name__}"
    vae: Any = objective.vae
    if vae.arch != "mlp":
        return f"the hand-derived backward knows MLP networks, not arch={vae.arch!r}"
    if type(vae.likelihood) is not Bernoulli:
        return (
            f"the hand-derived backward knows the Bernoulli likelihood, not {vae.likelihood.name}"
        )
    if objective.particle_chunk is not None and objective.num_particles > objective.particle_chunk:
        return "particle chunking recomputes activations; it goes through autograd"
    if (
        _mlp_layers(vae.encoder_net, vae.encoder_act) is None
        or _mlp_layers(vae.decoder_net, None) is None
    ):
        return "the encoder or decoder is not a pyrogen MLP with a supported activation"
    return None


def _softplus_threshold(t: torch.Tensor) -> float:
    """Above it softplus(l) is returned as l: the error, exp(-threshold), is below the
    dtype's resolution (exp(-20) = 2e-9 in float32, exp(-50) = 2e-22 in float64)."""
    return 50.0 if t.dtype == torch.float64 else 20.0


class ManualBackward:
    r"""Loss and gradient of a :class:`~pyrogen.infer.fast_elbo.VAEObjective` without autograd.

    ``loss = ManualBackward(objective)(x, eps, scale)`` returns ``scale * L`` (detached) and
    adds ``scale * dL/dtheta`` to every parameter's ``.grad``, where ``L`` is
    ``objective.loss_from_noise(x, eps)``: the bound summed over the batch.

    Args:
        objective: the tracing-free objective (its structure already checked).
        reuse_buffers: keep the intermediates in buffers reused by the next call (eager
            steps); ``False`` allocates them per call, for ``torch.compile`` to fuse.
    """

    def __init__(self, objective: VAEObjective, reuse_buffers: bool = True):
        reason = supports_manual_backward(objective)
        if reason is not None:
            raise ValueError(reason)
        vae: Any = objective.vae
        self.objective = objective
        self.ws = _Workspace(reuse_buffers)
        self.encoder = _Chain(_mlp_layers(vae.encoder_net, vae.encoder_act) or [], self.ws, "enc")
        self.decoder = _Chain(_mlp_layers(vae.decoder_net, None) or [], self.ws, "dec")
        self.heads = (vae.loc_head, vae.scale_head)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, eps: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        obj, vae = self.objective, self.objective.vae
        k = obj.num_particles
        batch = x.shape[0]
        x2 = x.reshape(batch, -1)  # (B, X)
        # -- forward ----------------------------------------------------------------------
        h, enc_saved = self.encoder.forward(x2)  # (B, H)
        loc_head, scale_head = self.heads
        d = loc_head.out_features
        # both heads as one (B, H) x (H, 2D) product: the two small GEMMs cost mostly overhead
        w_heads = torch.cat(
            (loc_head.weight, scale_head.weight), out=self.ws("wh", (2 * d, h.shape[1]), h)
        )
        b_heads = torch.cat((loc_head.bias, scale_head.bias), out=self.ws("bh", (2 * d,), h))
        heads = torch.addmm(b_heads, h, w_heads.t(), out=self.ws("heads", (batch, 2 * d), h))
        loc, s = heads[:, :d], heads[:, d:]  # (B, D) each
        sigma = F.softplus(s) + vae.min_scale
        z = loc + eps * sigma  # (B, D) or (K, B, D)
        logits, dec_saved = self.decoder.forward(z.reshape(-1, z.shape[-1]))  # (K*B, X)
        logits = logits.view(*z.shape[:-1], -1)
        # -log p(x | z) per pixel = softplus(l) - x l, the Bernoulli with logits l
        nll_px = _aten.softplus.out(
            logits, 1, _softplus_threshold(logits), out=self.ws("nll", logits.shape, logits)
        ).addcmul_(x2, logits, value=-1)
        log_px = -nll_px.sum(-1)  # (B,) or (K, B)
        if obj.analytic_kl:
            kl = 0.5 * (loc.square() + sigma.square() - 1).sum(-1) - sigma.log().sum(-1)
            log_w = log_px - kl
        else:
            log_w = log_px + log_standard_normal(z) - log_q_at_noise(eps, sigma)
        # -- the loss and c = -dL/dlog w ----------------------------------------------------
        if k == 1:
            loss = -log_w.sum()
            c: torch.Tensor | float = scale
        elif obj.kind == "iwae":
            loss = -(torch.logsumexp(log_w, 0) - math.log(k)).sum()
            c = torch.softmax(log_w, 0).mul_(scale).unsqueeze(-1)  # (K, B, 1)
        else:
            loss = -log_w.sum() / k
            c = scale / k
        c_total = scale  # sum_k c_kb: every weighting above sums to one over k
        # -- backward -----------------------------------------------------------------------
        g_logits = torch.sigmoid(logits, out=self.ws("g_logits", logits.shape, logits))
        g_logits = g_logits.sub_(x2).mul_(c)  # (K, B, X) or (B, X)
        g_z = self.decoder.backward(dec_saved, g_logits.view(-1, g_logits.shape[-1]), True)
        assert g_z is not None
        g_z = g_z.view(z.shape)
        if not obj.analytic_kl:
            g_z = g_z.add_(z * c)
        g_loc = g_z if k == 1 else g_z.sum(0)  # (B, D)
        g_sigma = (g_z * eps) if k == 1 else (g_z * eps).sum(0)
        if obj.analytic_kl:
            g_loc = g_loc + loc * c_total
            g_sigma = g_sigma.add_((sigma - sigma.reciprocal()) * c_total)
        else:
            g_sigma = g_sigma.sub_(sigma.reciprocal().mul_(c_total))
        g_heads = self.ws("g_heads", (batch, 2 * d), h)  # (B, 2D): [dL/dloc, dL/ds]
        g_heads[:, :d].copy_(g_loc)
        _aten.softplus_backward.grad_input(g_sigma, s, 1, 20, grad_input=g_heads[:, d:])
        g_w = torch.mm(g_heads.t(), h)  # (2D, H); each head's gradient is a block of rows
        g_b = g_heads.sum(0)
        _accumulate(loc_head.weight, g_w[:d])
        _accumulate(loc_head.bias, g_b[:d])
        _accumulate(scale_head.weight, g_w[d:])
        _accumulate(scale_head.bias, g_b[d:])
        g_h = torch.mm(g_heads, w_heads, out=self.ws("g_h", h.shape, h))  # (B, H)
        self.encoder.backward(enc_saved, g_h, False)
        return loss * scale
