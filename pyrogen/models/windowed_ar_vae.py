r"""VAE with an autoregressive decoder of restricted receptive field (a small VLAE).

    p(x | z) = prod_i Bernoulli(x_i | f(z, x_{i-w}, ..., x_{i-1}, i)),

with w = ``window``; ``window=None`` gives the full context x_{<i}. A decoder with full
context can model the data without z, so the ELBO's KL term drives q(z | x) to the prior
(posterior collapse); a short window cannot see long-range structure, which must then go
through z ("lossy code via explicit information placement").
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.nn import MLP
from pyrogen.validation import (
    check_binary,
    check_dtype,
    check_num_samples,
    check_positive_int,
    check_shape,
    check_sizes,
    parameter_dtype,
)


class WindowedARDecoder(nn.Module):
    r"""Logits of p(x_i | z, x_{i-w..i-1}) for every position i, by one shared MLP.

    The MLP sees the w previous values (zero-padded before the start, with a 0/1 flag per
    slot saying whether it is padding), a one-hot of i, and z.

    Args:
        seq_len: sequence length L.
        z_dim: latent size (0: a plain autoregressive model).
        window: w, the number of previous positions visible (None: all, w = L).
        hidden: hidden layer sizes.

    Shapes:
        ``forward(x (B, L), z (B, z_dim)) -> logits (B, L)``; logits[:, i] depends on
        x[:, j] only for i - w <= j < i.
    """

    present: torch.Tensor

    def __init__(
        self,
        seq_len: int,
        z_dim: int,
        window: int | None = None,
        hidden: tuple[int, ...] = (64, 64),
    ):
        super().__init__()
        if window is not None and not 1 <= window <= seq_len:
            raise ValueError(f"window must be in [1, {seq_len}] or None, got {window}")
        self.seq_len, self.z_dim = seq_len, z_dim
        self.window = seq_len if window is None else window
        self.net = MLP(2 * self.window + seq_len + z_dim, tuple(hidden), 1, act="relu")
        # present[i, k] = 1 when slot k of position i holds x_{i - w + k} (not padding).
        idx = torch.arange(seq_len)[:, None] - self.window + torch.arange(self.window)[None]
        self.register_buffer("present", (idx >= 0).float())

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b, length = x.shape
        padded = F.pad(x, (self.window, 0))
        # windows[b, i, k] = x[b, i - w + k]: strictly before i, so the decoder is causal.
        windows = padded.unfold(1, self.window, 1)[:, :length]  # (B, L, w)
        present = self.present.expand(b, -1, -1)
        pos = torch.eye(length, device=x.device, dtype=x.dtype).expand(b, -1, -1)
        feats = [windows, present, pos, z.unsqueeze(1).expand(-1, length, -1)]
        return self.net(torch.cat(feats, -1)).squeeze(-1)


class WindowedARVAE(PyroModel):
    r"""Bernoulli sequences x (B, L): p(z) = N(0, I), p(x | z) autoregressive with a window.

    Args:
        seq_len: L.
        z_dim: latent size.
        window: decoder receptive field (None: the full prefix).
        hidden: hidden sizes of the encoder and decoder MLPs.

    References:
        Variational Lossy Autoencoder, X. Chen, D. P. Kingma, T. Salimans, Y. Duan,
        P. Dhariwal, J. Schulman, I. Sutskever, P. Abbeel, 2017, sec. 3.1 and eq. (6).
        https://arxiv.org/abs/1611.02731
    """

    def __init__(
        self,
        seq_len: int,
        z_dim: int = 4,
        window: int | None = None,
        hidden: tuple[int, ...] = (64, 64),
    ):
        super().__init__()
        self.seq_len = check_positive_int(seq_len, "seq_len")
        self.z_dim = check_positive_int(z_dim, "z_dim")
        hidden = check_sizes(hidden, "hidden", allow_empty=True)
        self.decoder = WindowedARDecoder(seq_len, z_dim, window, hidden)
        self.encoder = MLP(seq_len, tuple(hidden), 2 * z_dim, act="relu")

    def check_x(self, x: torch.Tensor) -> None:
        check_shape(x, (self.seq_len,))
        check_dtype(x, parameter_dtype(self))
        check_binary(x)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x): ``(B, L) -> ((B, z_dim), (B, z_dim))``."""
        loc, raw = self.encoder(x).chunk(2, -1)
        return loc, F.softplus(raw) + 1e-4

    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("WindowedARVAE.model scores data; use sample() to generate")
        self.check_x(x)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.z_dim), 1.0).to_event(1))
            logits = self.decoder(x, z)
            return pyro.sample("x", dist.Bernoulli(logits=logits).to_event(1), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("the guide q(z | x) needs observations x, got None")
        self.check_x(x)
        loc, scale = self.encode(x)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    @torch.no_grad()
    def sample(self, num_samples: int) -> torch.Tensor:
        """Ancestral sampling, one position at a time: ``(num_samples, L)``."""
        check_num_samples(num_samples)
        w = next(self.parameters())
        z = torch.randn(num_samples, self.z_dim, device=w.device, dtype=w.dtype)
        x = torch.zeros(num_samples, self.seq_len, device=w.device, dtype=w.dtype)
        for i in range(self.seq_len):
            x[:, i] = torch.bernoulli(torch.sigmoid(self.decoder(x, z)[:, i]))
        return x
