r"""Vector quantization with a learned codebook (van den Oord et al. 2017).

    k(x) = argmin_j ||z_e(x) - e_j||_2,   z_q(x) = e_{k(x)},

applied at every spatial position of a feature map. The forward pass returns z_q; the
backward pass copies the gradient from z_q to z_e (straight-through). The two auxiliary
terms carry the paper's stop-gradients sg[.]:

    codebook loss   = || sg[z_e] - e ||^2   (moves the codes, not the encoder)
    commitment loss = || z_e - sg[e] ||^2   (moves the encoder, not the codes)

With ``ema=True`` the codebook is not trained by gradient: each code becomes the
exponential moving average of the encoder outputs assigned to it (the paper's Appendix A.1),
the Lloyd-Max / k-means centroid step done online.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Quantized(NamedTuple):
    """What :class:`VectorQuantizer` returns for z_e ``(B, D, H, W)``.

    Attributes:
        z_q: straight-through quantized map ``(B, D, H, W)``: values of z_q, gradient to z_e.
        indices: code index per position ``(B, H, W)`` (long).
        codebook_loss: ||sg[z_e] - e||^2 summed over positions and D, averaged over B.
        commitment_loss: ||z_e - sg[e]||^2, same reduction.
        perplexity: exp(entropy) of the batch's code histogram (1 ... num_codes).
        usage: fraction of codes used at least once in the batch.
    """

    z_q: torch.Tensor
    indices: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor


class VectorQuantizer(nn.Module):
    r"""Nearest-neighbour quantizer of ``(B, D, H, W)`` maps onto ``num_codes`` vectors in R^D.

    Args:
        num_codes: codebook size K.
        code_dim: code dimension D (channels of the encoder output).
        ema: update the codebook by exponential moving averages instead of gradients.
        decay: EMA decay gamma (the paper: 0.99).
        eps: Laplace smoothing of the EMA cluster sizes, so unused codes do not divide by 0.
        init: ``"uniform"`` (the paper: U(-1/K, 1/K)) or ``"data"``: on the first training
            batch every code is set to a randomly chosen encoder output, so that no code starts
            far from the data and stays unused (a common k-means-style remedy).

    Example:
        >>> vq = VectorQuantizer(num_codes=8, code_dim=4)
        >>> out = vq(torch.randn(2, 4, 3, 3))
        >>> out.z_q.shape, out.indices.shape
        (torch.Size([2, 4, 3, 3]), torch.Size([2, 3, 3]))

    References:
        Neural Discrete Representation Learning, A. van den Oord, O. Vinyals,
        K. Kavukcuoglu, 2017, eqs. (1)-(3) and Appendix A.1. https://arxiv.org/abs/1711.00937
    """

    codebook: torch.Tensor
    cluster_size: torch.Tensor
    cluster_sum: torch.Tensor
    initialized: torch.Tensor

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        ema: bool = False,
        decay: float = 0.99,
        eps: float = 1e-5,
        init: str = "uniform",
    ):
        super().__init__()
        if num_codes < 1 or code_dim < 1:
            raise ValueError(
                f"need num_codes >= 1 and code_dim >= 1, got {num_codes} and {code_dim}"
            )
        if init not in ("uniform", "data"):
            raise ValueError(f"unknown codebook init {init!r}; expected 'uniform' or 'data'")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.num_codes, self.code_dim = num_codes, code_dim
        self.ema, self.decay, self.eps = ema, decay, eps
        self.register_buffer("initialized", torch.tensor(init == "uniform"))
        codes = torch.empty(num_codes, code_dim).uniform_(-1.0 / num_codes, 1.0 / num_codes)
        if ema:
            self.register_buffer("codebook", codes)
            self.register_buffer("cluster_size", torch.zeros(num_codes))
            self.register_buffer("cluster_sum", codes.clone())
        else:
            self.codebook = nn.Parameter(codes)

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of ``flat`` ``(N, D)`` -> ``(N,)``."""
        # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, without forming the (N, K, D) differences.
        dist = (
            flat.pow(2).sum(1, keepdim=True)
            - 2 * flat @ self.codebook.t()
            + self.codebook.pow(2).sum(1)[None]
        )
        return dist.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes for indices ``(B, H, W)`` -> map ``(B, D, H, W)``."""
        return self.codebook[indices].permute(0, 3, 1, 2)

    def forward(self, z_e: torch.Tensor) -> Quantized:
        if z_e.dim() != 4 or z_e.shape[1] != self.code_dim:
            raise ValueError(
                f"VectorQuantizer expects z_e of shape (B, {self.code_dim}, H, W), "
                f"got {tuple(z_e.shape)}"
            )
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)  # (B*H*W, D)
        if self.training and not bool(self.initialized):
            self._init_from(flat.detach())
        idx = self.nearest(flat.detach())
        if self.ema and self.training:
            self._ema_update(flat.detach(), idx)
        e = self.codebook[idx]  # (B*H*W, D)
        codebook_loss = (flat.detach() - e).pow(2).sum() / b
        commitment_loss = (flat - e.detach()).pow(2).sum() / b
        # Straight-through estimator: forward value e, gradient copied to z_e (eq. 3).
        z_q = flat + (e - flat).detach()
        counts = torch.bincount(idx, minlength=self.num_codes).to(flat.dtype)
        probs = counts / counts.sum()
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum()
        return Quantized(
            z_q=z_q.reshape(b, h, w, d).permute(0, 3, 1, 2),
            indices=idx.reshape(b, h, w),
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
            perplexity=entropy.exp(),
            usage=(counts > 0).to(flat.dtype).mean(),
        )

    @torch.no_grad()
    def _init_from(self, flat: torch.Tensor) -> None:
        pick = torch.randint(len(flat), (self.num_codes,), device=flat.device)
        self.codebook.copy_(flat[pick])
        if self.ema:
            self.cluster_sum.copy_(flat[pick])
            self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        onehot = torch.zeros(len(idx), self.num_codes, device=flat.device, dtype=flat.dtype)
        onehot[torch.arange(len(idx), device=flat.device), idx] = 1.0
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.cluster_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        size = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.copy_(self.cluster_sum / size[:, None])
