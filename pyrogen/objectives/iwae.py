r"""The importance weighted bound with reparameterized, STL and doubly reparameterized gradients.

    L_K(x) = E_{z_1..z_K ~ q} [ log (1/K) sum_k w_k ],    w_k = p(x, z_k) / q(z_k | x),

a lower bound on log p(x) that tightens as K grows (L_1 is the ELBO).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from pyrogen.objectives.particles import ParticleELBO

ESTIMATORS = ("reparam", "stl", "dreg")


class IWAE_ELBO(ParticleELBO):
    r"""loss = -sum_b log (1/K) sum_k p(x_b, z_k) / q(z_k | x_b), z_k ~ q: the negative IWAE bound.

    ``loss = -sum_b [logsumexp_k log w_{k,b} - log K]``, with the K particles drawn at once
    under a particle plate. The value is the same for every estimator; the gradient is

    * ``"reparam"``: the gradient of the bound through z = g(eps, phi) (Burda et al.),
      sum_k w~_k grad log w_k with normalized weights w~ = softmax(log w).
    * ``"stl"``: the same with the score term of q dropped (log q evaluated with its
      parameters held fixed), i.e. sum_k w~_k (d log w_k / d z_k)(d z_k / d phi) for the
      guide; Roeder et al.'s path derivative applied to the K-sample bound.
    * ``"dreg"``: doubly reparameterized (Tucker et al., eq. 5): for the guide
      sum_k w~_k^2 (d log w_k / d z_k)(d z_k / d phi), unbiased for the bound's gradient and
      with a signal-to-noise ratio that grows with K; the model's parameters get
      sum_k w~_k grad_theta log p(x, z_k) as with ``"reparam"``.

    With K = 1 and ``"reparam"`` this is :class:`~pyro.infer.Trace_ELBO`. Every guide site must
    be reparameterizable (flow-transformed guides are); for ``"stl"`` and ``"dreg"`` the guide
    is replayed at the sampled values, which for a flow needs the transform's inverse.
    The guide's and the model's parameters must be disjoint for ``"dreg"``.

    With a latent outside the data plate (a global latent) the whole trace is one example:
    log w_k = log p(x, z_k) - log q(z_k | x) sums every site with its own scale, and the value
    is the whole trace's K-sample bound, that of ``pyro.infer.RenyiELBO(alpha=0)`` on the
    same draws (with subsampling, Renyi's scaled weights too, which are not a bound).

    Args:
        num_particles: K.
        estimator: ``"reparam"``, ``"stl"`` or ``"dreg"``.
        data_plate: name of the plate over examples (see
            :class:`~pyrogen.objectives.particles.ParticleELBO` for the plate rules).
        max_plate_nesting: plates in the model; guessed when not given.

    Example:
        >>> import torch, pyro, pyro.distributions as dist
        >>> def model(x):
        ...     with pyro.plate("data", len(x)):
        ...         z = pyro.sample("z", dist.Normal(0.0, 1.0))
        ...         pyro.sample("x", dist.Normal(z, 1.0), obs=x)
        >>> def guide(x):  # the exact posterior N(x / 2, 1 / 2)
        ...     with pyro.plate("data", len(x)):
        ...         pyro.sample("z", dist.Normal(x / 2, 0.5**0.5))
        >>> x = torch.tensor([0.0, 1.0])
        >>> round(-IWAE_ELBO(num_particles=5, estimator="dreg").loss(model, guide, x), 3)
        -2.781
        >>> round(dist.Normal(0.0, 2**0.5).log_prob(x).sum().item(), 3)
        -2.781

    References:
        Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016,
        eq. (8) and (14). https://arxiv.org/abs/1509.00519

        Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives, G. Tucker,
        D. Lawson, S. Gu, C. J. Maddison, 2019, eq. (5). https://arxiv.org/abs/1810.04152

        Sticking the Landing: Simple, Lower-Variance Gradient Estimators for Variational
        Inference, G. Roeder, Y. Wu, D. Duvenaud, 2017, eq. (8). https://arxiv.org/abs/1703.09194
    """

    whole_trace_if_global = True

    def __init__(
        self,
        num_particles: int = 1,
        estimator: str = "reparam",
        data_plate: str = "data",
        max_plate_nesting: int | None = None,
    ):
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
        super().__init__(num_particles, data_plate, max_plate_nesting)
        self.estimator = estimator

    def differentiable_loss(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        if self.estimator == "dreg":
            log_w, scale = self._dreg_log_w(model, guide, args, kwargs)
        else:
            p = self._particles(model, guide, args, kwargs)
            self._require_reparam(p.guide_trace, f"IWAE_ELBO(estimator={self.estimator!r})")
            log_q = p.log_q
            if self.estimator == "stl":
                fixed_z = {name: v.detach() for name, v in p.values.items()}
                score = self.guide_log_q(guide, p.guide_trace, fixed_z, args, kwargs, p.whole_trace)
                # Same value; the gradient of the score part (phi at fixed z) is removed.
                log_q = log_q - score + score.detach()
            log_w, scale = p.log_p - log_q, p.scale
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)  # (B,) or (1,)
        if self.estimator == "dreg":
            weights = torch.softmax(log_w.detach(), dim=0)
            surrogate = (weights * log_w).sum(0)
            bound = bound.detach() + surrogate - surrogate.detach()
        return -scale * bound.sum()

    def _dreg_log_w(self, model: Callable, guide: Callable, args, kwargs):
        """log w whose backward pass multiplies the gradient reaching each z_k by w~_k.

        The model and the replayed guide read z through a hook that scales its gradient by
        the particle's normalized weight, so every path into the guide's parameters picks
        up w~_k once more than the paths into the model's parameters (Tucker et al., eq. 5).
        The score part of q (phi at fixed z) is cancelled as in ``"stl"``.
        """
        guide_trace = self._run_guide(model, guide, args, kwargs)
        self._require_reparam(guide_trace, "IWAE_ELBO(estimator='dreg')")
        n = self.plate_nesting
        assert n is not None
        # {site: w~ viewed against z's layout}, filled once log w is known, read in backward.
        weights: dict[str, torch.Tensor] = {}

        def hooked(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            out = {}
            for name, value in values.items():
                out[name] = value
                if value.requires_grad:
                    out[name] = value.view_as(value)
                    out[name].register_hook(_scale_by(weights, name))
            return out

        p = self._particles(
            model, guide, args, kwargs, model_values=hooked, guide_trace=guide_trace
        )
        whole = p.whole_trace
        log_q = self.guide_log_q(guide, guide_trace, p.model_values, args, kwargs, whole)
        fixed_z = {name: v.detach() for name, v in p.values.items()}
        score = self.guide_log_q(guide, guide_trace, fixed_z, args, kwargs, whole)
        log_w = p.log_p - (log_q - score + score.detach())  # (K, B), or (K, 1) if whole
        w = torch.softmax(log_w.detach(), dim=0)
        for name, value in p.values.items():
            # (K, B) weights viewed against z's (K, ..., B, ..., *event) layout; a whole
            # trace's (K, 1) weights against (K, 1, ..., 1).
            shape = [1] * value.dim()
            shape[0] = -1
            ddim = None if whole else self._data_dim(name, guide_trace.nodes[name])
            if ddim is not None:
                shape[n + 1 + ddim] = value.shape[n + 1 + ddim]
            weights[name] = w.reshape(shape)
        return log_w, p.scale


def _scale_by(weights: dict[str, torch.Tensor], name: str) -> Callable:
    def hook(grad: torch.Tensor) -> torch.Tensor:
        return grad * weights[name]

    return hook
