r"""Linear Gaussian VAE, the model of the posterior-collapse toy.

    p(z) = N(0, I),   p(x | z) = N(W z + b, diag(sigma^2)),   q(z | x) = N(V x + c, diag(s^2)).

Every term of the ELBO is Gaussian, so it has a closed form (:meth:`LinearGaussianVAE.elbo`)
and so does the evidence: p(x) = N(b, W W^T + diag(sigma^2)) (factor analysis). On data
N(mu, Sigma) with a diagonal Sigma the optimum is W = 0: the decoder models the data alone
and q(z | x) = p(z) (posterior collapse); with Sigma = Psi + (rank r) the optimum keeps r
columns of W, i.e. r active units.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.validation import check_dtype, check_finite, check_num_samples, check_shape


class LinearGaussianVAE(PyroModel):
    r"""VAE with a linear Gaussian decoder (diagonal covariance) and a linear encoder.

    Args:
        x_dim: data dimension D.
        z_dim: latent dimension.
        init_scale: standard deviation of the initial W and V entries.
        isotropic: one decoder variance sigma^2 for every coordinate (probabilistic PCA)
            instead of one per coordinate (factor analysis). With per-coordinate variances
            the optimum is not unique (Sigma = (Psi - D) + (W W^T + D) for small diagonal
            D >= 0 fits equally well), so collapse is a property of the training dynamics;
            with one shared variance and ``z_dim < x_dim`` the optimum is unique and has
            exactly as many active units as eigenvalues of Sigma above the noise level.

    Example:
        >>> import torch
        >>> from pyrogen.models import LinearGaussianVAE
        >>> vae = LinearGaussianVAE(4, 2)
        >>> x = torch.randn(3, 4)
        >>> vae.elbo(x).shape, bool((vae.elbo(x) <= vae.log_likelihood(x)).all())
        (torch.Size([3]), True)

    References:
        Don't Blame the ELBO! A Linear VAE Perspective on Posterior Collapse, J. Lucas,
        G. Tucker, R. Grosse, M. Norouzi, 2019 (the linear VAE and its closed-form ELBO).
        https://arxiv.org/abs/1911.02469
        Probabilistic Principal Component Analysis, M. E. Tipping, C. M. Bishop, 1999.
    """

    def __init__(self, x_dim: int, z_dim: int, init_scale: float = 0.1, isotropic: bool = False):
        super().__init__()
        if x_dim < 1 or z_dim < 1:
            raise ValueError(f"x_dim and z_dim must be positive, got {x_dim} and {z_dim}")
        self.x_dim, self.z_dim = x_dim, z_dim
        self.W = nn.Parameter(init_scale * torch.randn(x_dim, z_dim))
        self.b = nn.Parameter(torch.zeros(x_dim))
        self.isotropic = isotropic
        self.log_sigma_raw = nn.Parameter(torch.zeros(1 if isotropic else x_dim))
        self.V = nn.Parameter(init_scale * torch.randn(z_dim, x_dim))
        self.c = nn.Parameter(torch.zeros(z_dim))
        self.log_s = nn.Parameter(torch.zeros(z_dim))

    @property
    def log_sigma(self) -> torch.Tensor:
        """log of the decoder standard deviations, shape ``(D,)``."""
        return self.log_sigma_raw.expand(self.x_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x): ``(B, D) -> ((B, z_dim), (B, z_dim))``."""
        loc = x @ self.V.T + self.c
        return loc, self.log_s.exp().expand_as(loc)

    def check_x(self, x: torch.Tensor) -> None:
        check_shape(x, (self.x_dim,))
        check_dtype(x, self.W.dtype)
        check_finite(x)

    @pyro_method
    def model(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is not None:
            self.check_x(x)
        n = 1 if x is None else x.shape[0]
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(self.c.new_zeros(self.z_dim), 1.0).to_event(1))
            loc = z @ self.W.T + self.b
            return pyro.sample("x", dist.Normal(loc, self.log_sigma.exp()).to_event(1), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("the guide q(z | x) needs observations x, got None")
        self.check_x(x)
        loc, scale = self.encode(x)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def kl(self, x: torch.Tensor) -> torch.Tensor:
        r"""KL(q(z_j | x) || N(0, 1)) per unit: ``(B, D) -> (B, z_dim)``."""
        loc, scale = self.encode(x)
        return 0.5 * (loc**2 + scale**2 - 1) - scale.log()

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        r"""Closed-form ELBO per example, ``(B, D) -> (B,)``.

        E_q log p(x | z) = sum_d [-log(sqrt(2 pi) sigma_d)
        - ((x_d - (W m + b)_d)^2 + sum_j W_dj^2 s_j^2) / (2 sigma_d^2)], minus sum_j KL_j.
        """
        self.check_x(x)
        loc, scale = self.encode(x)
        var = (2 * self.log_sigma).exp()
        resid = (x - loc @ self.W.T - self.b) ** 2 + (self.W**2) @ (scale[0] ** 2)
        rec = -(self.log_sigma + 0.5 * math.log(2 * math.pi) + resid / (2 * var)).sum(-1)
        return rec - self.kl(x).sum(-1)

    def marginal(self) -> dist.MultivariateNormal:
        """p(x) = N(b, W W^T + diag(sigma^2))."""
        cov = self.W @ self.W.T + torch.diag((2 * self.log_sigma).exp())
        return dist.MultivariateNormal(self.b, covariance_matrix=cov)

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per example, ``(B, D) -> (B,)``."""
        self.check_x(x)
        return self.marginal().log_prob(x)

    @torch.no_grad()
    def sample(self, num_samples: int) -> torch.Tensor:
        """Draws ``(num_samples, D)`` from p(x)."""
        return self.marginal().sample((check_num_samples(num_samples),))
