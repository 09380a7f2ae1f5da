r"""Generalized EM for any Pyro model whose latent variables are all enumerable discrete sites.

The ELBO over q(Z) q(theta) with q(theta) = delta(theta - theta*) is

    L(q, theta*) = E_{q(Z)}[log p(X, Z | theta*) - log q(Z)] <= log p(X | theta*).

E-step: q(Z) = p(Z | X, theta_old), computed exactly by enumeration (``TraceEnum_ELBO``'s
``compute_marginals``); the bound then equals log p(X | theta_old). M-step: gradient ascent on
L(q, theta) in theta with q frozen, evaluated exactly by enumerating q in the guide. A step
that fails to raise L is undone, so log p(X | theta) never decreases (generalized EM).

The E-step factorizes q over sites, q(Z) = prod_s p(z_s | X): this is the exact posterior when
the discrete sites are independent given X (one assignment per plate element, as in mixtures
and mixtures of experts). With dependent discrete sites (e.g. an HMM chain) it is a
mean-field variational EM and the monotonicity guarantee no longer holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO, config_enumerate
from pyro.poutine.util import site_is_subsample


def _empty_guide(*args: Any, **kwargs: Any) -> None:
    """The guide of a model whose discrete sites are all summed out in the model."""


class GradientEM:
    r"""Generalized EM: exact enumerated E-step, ``m_steps`` Adam steps on the ELBO as M-step.

    Args:
        model: a Pyro model; every latent site must be discrete and enumerable (they are
            marked ``enumerate="parallel"`` automatically). Parameters are point estimates.
        params: the tensors to optimize (e.g. ``module.parameters()``).
        max_plate_nesting: as for :class:`~pyro.infer.TraceEnum_ELBO`.
        m_steps: gradient steps per M-step.
        lr: Adam learning rate of the M-step.

    Example:
        >>> import torch
        >>> from pyrogen.models import GaussianMixture
        >>> from pyrogen.infer.em import GradientEM
        >>> _ = torch.manual_seed(0)
        >>> x = torch.cat([torch.randn(40, 1) - 4, torch.randn(40, 1) + 4])
        >>> gmm = GaussianMixture(2, 1)
        >>> em = GradientEM(gmm.model, gmm.parameters(), m_steps=10, lr=0.1)
        >>> history = [float(em.step(x)["log_lik"]) for _ in range(4)]
        >>> all(b >= a - 1e-4 for a, b in zip(history, history[1:]))
        True

    References:
        Maximum likelihood from incomplete data via the EM algorithm, A. P. Dempster,
        N. M. Laird, D. B. Rubin, 1977, sec. 3 (generalized EM).
        A view of the EM algorithm that justifies incremental, sparse, and other variants,
        R. M. Neal, G. E. Hinton, 1998, eq. (7). https://doi.org/10.1007/978-94-011-5014-9_12
    """

    def __init__(
        self,
        model: Callable[..., Any],
        params: Iterable[torch.Tensor],
        max_plate_nesting: int = 1,
        m_steps: int = 50,
        lr: float = 0.05,
    ):
        self.model = config_enumerate(model, "parallel")
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("GradientEM needs at least one parameter with requires_grad=True")
        self.max_plate_nesting = max_plate_nesting
        self.m_steps = m_steps
        self.optim = torch.optim.Adam(self.params, lr=lr)
        self._elbo = TraceEnum_ELBO(max_plate_nesting=max_plate_nesting)

    def log_likelihood(self, *args: Any, **kwargs: Any) -> float:
        """log p(X | theta) with every discrete site summed out."""
        return -self._elbo.loss(self.model, _empty_guide, *args, **kwargs)

    @torch.no_grad()
    def e_step(self, *args: Any, **kwargs: Any) -> Callable[..., None]:
        """Returns the guide q(Z) = prod_s p(z_s | X, theta) at the current parameters."""
        enum_model = poutine.enum(self.model, first_available_dim=-1 - self.max_plate_nesting)
        trace = poutine.trace(enum_model).get_trace(*args, **kwargs)
        latent = {}
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or site["is_observed"] or site_is_subsample(site):
                continue
            if not getattr(site["fn"], "has_enumerate_support", False):
                raise ValueError(
                    f"GradientEM needs every latent site to be discrete and enumerable; "
                    f"site {name!r} is {type(site['fn']).__name__}"
                )
            latent[name] = [
                (f.name, f.size, f.dim) for f in site["cond_indep_stack"] if f.vectorized
            ]
        marginals = self._elbo.compute_marginals(self.model, _empty_guide, *args, **kwargs)
        sites = []
        for name, plates in latent.items():
            probs = marginals[name].probs if hasattr(marginals[name], "probs") else None
            if probs is None:
                raise ValueError(f"site {name!r}: expected a Categorical marginal")
            sites.append((name, probs.detach(), plates))

        def posterior_guide(*a: Any, **k: Any) -> None:
            for name, probs, plates in sites:
                with ExitStack() as stack:
                    for pname, size, dim in plates:
                        stack.enter_context(pyro.plate(pname, size, dim=dim))
                    pyro.sample(name, dist.Categorical(probs), infer={"enumerate": "parallel"})

        return posterior_guide

    def step(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """One E-step and M-step (the :class:`~pyrogen.infer.Stepper` protocol): returns
        ``{"log_lik": log p(X | theta), "loss": -log p(X | theta) per example}`` after the
        step, as 0-dim tensors."""
        guide = self.e_step(*args, **kwargs)
        snapshot = [p.detach().clone() for p in self.params]
        before = -self._elbo.loss(self.model, guide, *args, **kwargs)
        for _ in range(self.m_steps):
            self.optim.zero_grad()
            loss = self._elbo.differentiable_loss(self.model, guide, *args, **kwargs)
            loss.backward()
            self.optim.step()
        after = -self._elbo.loss(self.model, guide, *args, **kwargs)
        if not after >= before:
            # Adam overshot: keep theta_old, so the likelihood cannot go down.
            with torch.no_grad():
                for p, old in zip(self.params, snapshot):
                    p.copy_(old)
        log_lik = torch.tensor(self.log_likelihood(*args, **kwargs))
        batch = next((a.shape[0] for a in args if isinstance(a, torch.Tensor) and a.dim()), 1)
        return {"log_lik": log_lik, "loss": -log_lik / batch}
