r"""Mean-field CAVI for the Bayesian Gaussian mixture (Dirichlet / Normal-Wishart priors).

Model::

    pi ~ Dir(alpha0),   Lambda_k ~ W(W0, nu0),   mu_k | Lambda_k ~ N(m0, (beta0 Lambda_k)^-1),
    c_n | pi ~ Cat(pi),   x_n | c_n, mu, Lambda ~ N(mu_{c_n}, Lambda_{c_n}^-1).

Mean field q(C) q(pi, mu, Lambda); each factor follows from log q_j = E_{-j} log p + const:
q(c_n) = Cat(r_n) with log r_nk = E[log pi_k] + E[log |Lambda_k|] / 2 - D/2 log 2 pi
- E[(x_n - mu_k)^T Lambda_k (x_n - mu_k)] / 2 + const, and q(pi) q(mu_k, Lambda_k) =
Dir(alpha) prod_k N-W(m_k, beta_k, W_k, nu_k) from the responsibility-weighted statistics.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pyrogen.models.gaussian_mixture import kmeans
from pyrogen.validation import check_finite


class BayesianGaussianMixtureCAVI:
    r"""Variational Bayesian Gaussian mixture fitted by coordinate ascent.

    Defaults follow scikit-learn's ``BayesianGaussianMixture`` with
    ``weight_concentration_prior_type="dirichlet_distribution"``: alpha0 = 1/K, beta0 = 1,
    m0 = the data mean, nu0 = D, W0^-1 = the data covariance.

    Args:
        num_components: K.
        alpha0, beta0, nu0: prior hyper-parameters (None: the defaults above).
        reg_covar: added to the diagonal of each weighted scatter matrix.

    Attributes (after :meth:`fit`):
        alpha ``(K,)``, beta ``(K,)``, means ``(K, D)`` (m_k), nu ``(K,)``, W ``(K, D, D)``.

    References:
        Pattern Recognition and Machine Learning, C. M. Bishop, 2006, sec. 10.2.1,
        eqs. (10.46)-(10.66).
        Variational Inference for Dirichlet Process Mixtures, D. M. Blei, M. I. Jordan, 2006.
    """

    def __init__(
        self,
        num_components: int,
        alpha0: float | None = None,
        beta0: float = 1.0,
        nu0: float | None = None,
        reg_covar: float = 1e-6,
    ):
        if num_components < 1:
            raise ValueError(f"num_components must be positive, got {num_components}")
        self.num_components = num_components
        self.alpha0 = 1.0 / num_components if alpha0 is None else alpha0
        self.beta0 = beta0
        self.nu0 = nu0
        self.reg_covar = reg_covar

    def _prior(self, x: torch.Tensor) -> None:
        d = x.shape[1]
        self.m0 = x.mean(0)
        self.W0_inv = torch.atleast_2d(torch.cov(x.T))
        self.nu0_ = float(d) if self.nu0 is None else self.nu0
        if self.nu0_ <= d - 1:
            raise ValueError(f"nu0 must exceed D - 1 = {d - 1}, got {self.nu0_}")

    def m_step(self, x: torch.Tensor, resp: torch.Tensor) -> None:
        """Updates q(pi), q(mu_k, Lambda_k) from responsibilities ``(N, K)`` (eqs. 10.58-10.63)."""
        d = x.shape[1]
        nk = resp.sum(0) + 10 * torch.finfo(x.dtype).eps  # (K,)
        xk = resp.T @ x / nk[:, None]  # (K, D)
        diff = x.unsqueeze(0) - xk.unsqueeze(1)  # (K, N, D)
        sk = torch.einsum("nk,kni,knj->kij", resp, diff, diff) / nk[:, None, None]
        sk = sk + self.reg_covar * torch.eye(d, dtype=x.dtype, device=x.device)
        self.alpha = self.alpha0 + nk
        self.beta = self.beta0 + nk
        self.means = (self.beta0 * self.m0 + nk[:, None] * xk) / self.beta[:, None]
        self.nu = self.nu0_ + nk
        dm = xk - self.m0  # (K, D)
        w_inv = (
            self.W0_inv
            + nk[:, None, None] * sk
            + (self.beta0 * nk / self.beta)[:, None, None] * dm[:, :, None] * dm[:, None, :]
        )
        self.W = torch.linalg.inv(w_inv)

    def log_resp(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized log r_nk of q(c_n = k), ``(N, D) -> (N, K)`` (eqs. 10.46, 10.64-10.66)."""
        d = x.shape[1]
        e_log_pi, e_log_det = self._expectations(d)
        diff = x.unsqueeze(1) - self.means  # (N, K, D)
        maha = torch.einsum("nki,kij,nkj->nk", diff, self.W, diff)
        e_quad = d / self.beta + self.nu * maha
        log_rho = e_log_pi + 0.5 * e_log_det - 0.5 * d * math.log(2 * math.pi) - 0.5 * e_quad
        return log_rho.log_softmax(-1)

    def _expectations(self, d: int) -> tuple[torch.Tensor, torch.Tensor]:
        """E[log pi_k] and E[log |Lambda_k|], both ``(K,)`` (Bishop eqs. 10.65-10.66)."""
        e_log_pi = torch.digamma(self.alpha) - torch.digamma(self.alpha.sum())
        i = torch.arange(d, dtype=self.W.dtype, device=self.W.device)
        e_log_det = (
            torch.digamma((self.nu[:, None] - i) / 2).sum(-1)
            + d * math.log(2)
            + torch.logdet(self.W)
        )
        return e_log_pi, e_log_det

    def _log_wishart_norm(self, W: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
        """log B(W, nu) of the Wishart density (Bishop eq. B.79)."""
        d = W.shape[-1]
        i = torch.arange(d, dtype=W.dtype, device=W.device)
        return -0.5 * nu * torch.logdet(W) - (
            0.5 * nu * d * math.log(2)
            + d * (d - 1) / 4 * math.log(math.pi)
            + torch.lgamma((nu[..., None] - i) / 2).sum(-1)
        )

    def elbo(self, x: torch.Tensor, resp: torch.Tensor) -> float:
        r"""The bound L(q) for q(c_n) = ``resp`` ``(N, K)`` and the current q(pi, mu, Lambda).

        Sum of Bishop's eqs. (10.71)-(10.77); each coordinate update does not decrease it.
        """
        n, d = x.shape
        k = self.num_components
        e_log_pi, e_log_det = self._expectations(d)
        nk = resp.sum(0)
        xk = resp.T @ x / nk.clamp_min(torch.finfo(x.dtype).tiny)[:, None]
        diff = x.unsqueeze(0) - xk.unsqueeze(1)
        sk = (
            torch.einsum("nk,kni,knj->kij", resp, diff, diff)
            / nk.clamp_min(torch.finfo(x.dtype).tiny)[:, None, None]
        )
        dm = xk - self.means
        trace_sw = torch.einsum("kij,kji->k", sk, self.W)
        quad = torch.einsum("ki,kij,kj->k", dm, self.W, dm)
        log2pi = math.log(2 * math.pi)
        lik = (
            0.5
            * (
                nk * (e_log_det - d / self.beta - self.nu * trace_sw - self.nu * quad - d * log2pi)
            ).sum()
        )
        p_z = (resp * e_log_pi).sum()
        alpha0 = torch.full_like(self.alpha, self.alpha0)
        log_c0 = torch.lgamma(alpha0.sum()) - torch.lgamma(alpha0).sum()
        p_pi = log_c0 + (self.alpha0 - 1) * e_log_pi.sum()
        d0 = self.means - self.m0
        quad0 = torch.einsum("ki,kij,kj->k", d0, self.W, d0)
        nu0 = torch.tensor(self.nu0_, dtype=x.dtype, device=x.device)
        W0 = torch.linalg.inv(self.W0_inv)
        p_mu_lambda = (
            0.5
            * (
                d * math.log(self.beta0 / (2 * math.pi))
                + e_log_det
                - d * self.beta0 / self.beta
                - self.beta0 * self.nu * quad0
            ).sum()
            + k * self._log_wishart_norm(W0, nu0)
            + 0.5 * (self.nu0_ - d - 1) * e_log_det.sum()
            - 0.5 * (self.nu * torch.einsum("ij,kji->k", self.W0_inv, self.W)).sum()
        )
        q_z = torch.xlogy(resp, resp).sum()
        q_pi = ((self.alpha - 1) * e_log_pi).sum() + (
            torch.lgamma(self.alpha.sum()) - torch.lgamma(self.alpha).sum()
        )
        entropy_lambda = (
            -self._log_wishart_norm(self.W, self.nu)
            - 0.5 * (self.nu - d - 1) * e_log_det
            + 0.5 * self.nu * d
        )
        q_mu_lambda = (
            0.5 * e_log_det
            + 0.5 * d * torch.log(self.beta / (2 * math.pi))
            - 0.5 * d
            - entropy_lambda
        ).sum()
        total = lik + p_z + p_pi + p_mu_lambda - q_z - q_pi - q_mu_lambda
        return float(total)

    @torch.no_grad()
    def fit(
        self, x: torch.Tensor, num_iters: int = 200, tol: float = 1e-10, seed: int = 0
    ) -> list[float]:
        """Runs CAVI from hard k-means responsibilities; returns the ELBO after each sweep.

        A sweep updates q(pi, mu, Lambda), then q(C); the bound is evaluated after the first
        update of the next sweep, so the returned sequence never decreases (with
        ``reg_covar=0``). Stops early once no responsibility changes by more than ``tol``.

        Args:
            x: data ``(N, D)``.
        """
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] < self.num_components:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x must be a (N, D) tensor with N >= num_components={self.num_components}, "
                f"got {got}"
            )
        check_finite(x)
        self._prior(x)
        labels = torch.cdist(x, kmeans(x, self.num_components, seed=seed)).argmin(1)
        resp = F.one_hot(labels, self.num_components).to(x.dtype)
        history: list[float] = []
        for _ in range(num_iters):
            self.m_step(x, resp)
            history.append(self.elbo(x, resp))
            new = self.log_resp(x).exp()
            change = float((new - resp).abs().max())
            resp = new
            if change < tol:
                break
        self.m_step(x, resp)
        history.append(self.elbo(x, resp))
        self.resp = resp
        return history

    @property
    def weights(self) -> torch.Tensor:
        """E_q[pi], shape ``(K,)``."""
        return self.alpha / self.alpha.sum()

    @property
    def covariances(self) -> torch.Tensor:
        """E_q[Lambda_k]^-1 = W_k^-1 / nu_k, shape ``(K, D, D)`` (scikit-learn's convention)."""
        return torch.linalg.inv(self.W) / self.nu[:, None, None]
