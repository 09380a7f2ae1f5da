r"""Gaussian mixture in Pyro syntax, fitted by expectation-maximization (Dempster et al. 1977).

Generative model, with the assignment ``c`` a discrete site that Pyro can enumerate::

    c_n ~ Categorical(pi),   x_n | c_n ~ N(mu_{c_n}, Sigma_{c_n}).

EM is ELBO maximization over q(C) q(theta) with q(theta) = delta(theta - theta*): the E-step
sets q(c_n) = p(c_n | x_n, theta*) exactly (the KL to the posterior becomes 0, so the ELBO
touches log p(X | theta*)); the M-step maximizes the ELBO in theta*, which for a Gaussian
mixture has the closed form below. Each iteration therefore never decreases log p(X | theta).
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.validation import check_dtype, check_finite, check_num_samples, check_shape


def kmeans(x: torch.Tensor, num_clusters: int, num_iters: int = 20, seed: int = 0) -> torch.Tensor:
    r"""Cluster centers by k-means++ seeding and Lloyd iterations, argmin_c sum_n ||x_n - c||^2.

    Args:
        x: data, shape ``(N, D)``.
        num_clusters: number of centers K (at most N).
        num_iters: Lloyd iterations after seeding.
        seed: seed of the k-means++ draws (a local generator; the global RNG is untouched).

    Returns:
        centers, shape ``(K, D)``.

    References:
        k-means++: the advantages of careful seeding, D. Arthur, S. Vassilvitskii, 2007.
    """
    n = x.shape[0]
    if not 1 <= num_clusters <= n:
        raise ValueError(f"num_clusters must be in [1, {n}] for {n} points, got {num_clusters}")
    gen = torch.Generator().manual_seed(seed)
    first = int(torch.randint(n, (1,), generator=gen))
    centers = x[first : first + 1]
    for _ in range(1, num_clusters):
        d2 = torch.cdist(x, centers).pow(2).min(dim=1).values
        # Sample the next center with probability proportional to squared distance (D^2 seeding).
        probs = (d2 / d2.sum()).cpu().double()
        nxt = int(torch.multinomial(probs, 1, generator=gen))
        centers = torch.cat([centers, x[nxt : nxt + 1]])
    for _ in range(num_iters):
        labels = torch.cdist(x, centers).argmin(dim=1)
        onehot = F.one_hot(labels, num_clusters).to(x.dtype)  # (N, K)
        counts = onehot.sum(0)
        sums = onehot.T @ x
        # An empty cluster keeps its previous center.
        keep = counts == 0
        centers = torch.where(keep[:, None], centers, sums / counts.clamp_min(1)[:, None])
    return centers


class GaussianMixture(PyroModel):
    r"""Mixture of K full-covariance Gaussians, p(x) = sum_k pi_k N(x | mu_k, Sigma_k).

    The assignment site ``"assignment"`` is marked for parallel enumeration, so
    ``TraceEnum_ELBO(max_plate_nesting=1)`` with the empty :meth:`guide` computes the exact
    negative log-likelihood, and :func:`pyrogen.infer.em.gradient_em` can fit it too.

    Args:
        num_components: number of components K.
        dim: dimension D of one observation.
        reg_covar: added to the diagonal of every covariance in the M-step (as in
            scikit-learn) to keep them positive definite; 0 gives the exact EM update.

    Example:
        >>> import torch
        >>> from pyrogen.models import GaussianMixture
        >>> _ = torch.manual_seed(0)
        >>> x = torch.cat([torch.randn(50, 2) - 5, torch.randn(50, 2) + 5]).double()
        >>> gmm = GaussianMixture(2, 2)
        >>> history = gmm.fit_em(x, num_iters=20)
        >>> all(b >= a for a, b in zip(history, history[1:]))
        True

    References:
        Maximum likelihood from incomplete data via the EM algorithm, A. P. Dempster,
        N. M. Laird, D. B. Rubin, 1977 (the E- and M-steps).
        Pattern Recognition and Machine Learning, C. M. Bishop, 2006, sec. 9.2.2,
        eqs. (9.23)-(9.28).
    """

    def __init__(self, num_components: int, dim: int, reg_covar: float = 1e-6):
        super().__init__()
        if num_components < 1 or dim < 1:
            raise ValueError(
                f"num_components and dim must be positive, got {num_components} and {dim}"
            )
        self.num_components = num_components
        self.dim = dim
        self.reg_covar = reg_covar
        self.logits = nn.Parameter(torch.zeros(num_components))
        self.locs = nn.Parameter(torch.randn(num_components, dim))
        # Cholesky factor L = strict_lower(tril_raw) + diag(exp(log_diag)), always valid.
        self.tril_raw = nn.Parameter(torch.zeros(num_components, dim, dim))
        self.log_diag = nn.Parameter(torch.zeros(num_components, dim))
        self.initialized = False

    # -- parameters ----------------------------------------------------------------------
    @property
    def weights(self) -> torch.Tensor:
        """Mixing weights pi, shape ``(K,)``."""
        return self.logits.softmax(-1)

    @property
    def scale_tril(self) -> torch.Tensor:
        """Cholesky factors of the covariances, shape ``(K, D, D)``."""
        return self.tril_raw.tril(-1) + torch.diag_embed(self.log_diag.exp())

    @property
    def covariances(self) -> torch.Tensor:
        """Covariances Sigma_k, shape ``(K, D, D)``."""
        L = self.scale_tril
        return L @ L.transpose(-1, -2)

    @torch.no_grad()
    def set_params(
        self, weights: torch.Tensor, locs: torch.Tensor, covariances: torch.Tensor
    ) -> None:
        """Sets pi ``(K,)``, mu ``(K, D)`` and Sigma ``(K, D, D)`` (Sigma positive definite)."""
        L = torch.linalg.cholesky(covariances)
        diag = torch.diagonal(L, dim1=-2, dim2=-1)
        for p in (self.logits, self.locs, self.tril_raw, self.log_diag):
            p.data = p.data.to(locs.dtype)
        self.logits.copy_(weights.clamp_min(torch.finfo(weights.dtype).tiny).log())
        self.locs.copy_(locs)
        self.tril_raw.copy_(L.tril(-1))
        self.log_diag.copy_(diag.log())
        self.initialized = True

    def _components(self) -> dist.MultivariateNormal:
        return dist.MultivariateNormal(self.locs, scale_tril=self.scale_tril)

    def check_x(self, x: torch.Tensor) -> None:
        check_shape(x, (self.dim,))
        check_dtype(x, None)  # any floating dtype: EM takes its parameters' from the data
        check_finite(x)

    # -- Pyro model and guide ------------------------------------------------------------
    @pyro_method
    def model(self, x: torch.Tensor | None = None, num_samples: int = 1) -> torch.Tensor:
        if x is not None:
            self.check_x(x)
        n = num_samples if x is None else x.shape[0]
        with pyro.plate("data", n):
            c = pyro.sample(
                "assignment",
                dist.Categorical(logits=self.logits),
                infer={"enumerate": "parallel"},
            )
            return pyro.sample(
                "x", dist.MultivariateNormal(self.locs[c], scale_tril=self.scale_tril[c]), obs=x
            )

    def guide(self, x: torch.Tensor | None = None, num_samples: int = 1) -> None:
        """Empty: the assignment is enumerated exactly and theta is a point estimate."""

    # -- inference -----------------------------------------------------------------------
    def joint_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log pi_k + log N(x_n | mu_k, Sigma_k): ``(N, D) -> (N, K)``."""
        self.check_x(x)
        return self.logits.log_softmax(-1) + self._components().log_prob(x.unsqueeze(-2))

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_n) = logsumexp_k [log pi_k + log N(x_n | mu_k, Sigma_k)]: ``(N, D) -> (N,)``."""
        return self.joint_log_prob(x).logsumexp(-1)

    def posterior(self, x: torch.Tensor) -> torch.Tensor:
        """Responsibilities r_nk = p(c_n = k | x_n) (the exact E-step): ``(N, D) -> (N, K)``."""
        return self.joint_log_prob(x).softmax(-1)

    def elbo(self, x: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
        r"""sum_n E_{q(c_n)}[log p(x_n, c_n) - log q(c_n)] for q(c_n = k) = ``resp`` ``(N, K)``.

        Equals ``log_likelihood(x).sum()`` when ``resp`` is the exact posterior.
        """
        log_joint = self.joint_log_prob(x)
        log_q = resp.clamp_min(torch.finfo(resp.dtype).tiny).log()
        return (resp * (log_joint - log_q)).sum()

    @torch.no_grad()
    def m_step(self, x: torch.Tensor, resp: torch.Tensor) -> None:
        r"""argmax_theta sum_n E_{q(c_n)} log p(x_n, c_n | theta), in closed form.

        N_k = sum_n r_nk, pi_k = N_k / N, mu_k = sum_n r_nk x_n / N_k,
        Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg_covar I.

        Args:
            x: data ``(N, D)``.
            resp: q(c_n = k), ``(N, K)``, rows summing to 1.
        """
        counts = resp.sum(0) + 10 * torch.finfo(x.dtype).eps  # (K,); avoids 0/0 for empty k
        locs = resp.T @ x / counts[:, None]
        diff = x.unsqueeze(0) - locs.unsqueeze(1)  # (K, N, D)
        cov = torch.einsum("nk,kni,knj->kij", resp, diff, diff) / counts[:, None, None]
        cov = cov + self.reg_covar * torch.eye(self.dim, dtype=x.dtype, device=x.device)
        self.set_params(counts / counts.sum(), locs, cov)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor, seed: int = 0) -> None:
        """Hard k-means assignments followed by one M-step (scikit-learn's default start)."""
        self.check_x(x)
        centers = kmeans(x, self.num_components, seed=seed)
        labels = torch.cdist(x, centers).argmin(dim=1)
        self.m_step(x, F.one_hot(labels, self.num_components).to(x.dtype))

    @torch.no_grad()
    def fit_em(self, x: torch.Tensor, num_iters: int = 100, seed: int = 0) -> list[float]:
        r"""EM iterations; returns (1/N) log p(X | theta_t) after each iteration t = 1..T.

        Initializes with k-means the first time (or after ``initialized`` is reset).

        Args:
            x: data ``(N, D)``; float64 gives monotonicity to machine precision.
            num_iters: number of E+M iterations.
            seed: seed of the k-means++ initialization.
        """
        self.check_x(x)
        if x.shape[0] < self.num_components:
            raise ValueError(
                f"need at least num_components={self.num_components} points, got {x.shape[0]}"
            )
        if not self.initialized:
            self.initialize(x, seed=seed)
        history = []
        for _ in range(num_iters):
            self.m_step(x, self.posterior(x))
            history.append(float(self.log_likelihood(x).mean()))
            if not math.isfinite(history[-1]):
                raise RuntimeError(f"EM produced a non-finite log-likelihood {history[-1]}")
        return history

    @torch.no_grad()
    def sample(self, num_samples: int) -> torch.Tensor:
        """Draws ``(num_samples, D)`` from the mixture."""
        c = dist.Categorical(logits=self.logits).sample((check_num_samples(num_samples),))
        return dist.MultivariateNormal(self.locs[c], scale_tril=self.scale_tril[c]).sample()
