r"""The score-function (log-derivative, REINFORCE) gradient of the ELBO, with baselines.

    grad_phi E_q[f(z)] = E_q[ (f(z) - b) grad_phi log q_phi(z | x) ] + E_q[grad_phi f(z)],

valid for any q, reparameterizable or not, and unbiased for any b that does not depend on z.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pyrogen.objectives.nvil import NVILBaseline
from pyrogen.objectives.particles import ParticleELBO

BASELINES = (None, "mean", "nvil", "leave_one_out")


class ScoreFunction_ELBO(ParticleELBO):
    r"""grad = E_q[(f - b) grad log q(z | x) + grad f], f = log p(x, z) - log q(z | x): REINFORCE.

    The loss is the negative ELBO summed over the data plate (averaged over the K particles).
    Every latent site is treated by the log-derivative trick, even reparameterizable ones:
    z is sampled and detached, and the surrogate per particle k and example b is

        f_{k,b} + log q(z_{k,b} | x_b) * stopgrad(f_{k,b} - b_{k,b}),
        f = log p(x, z) - log q(z | x),

    whose value is the ELBO and whose gradient is the REINFORCE estimator. Each example is
    credited only with its own learning signal f_{.,b} (the plate makes the others'
    contributions zero in expectation). Baselines b:

    * ``None``: b = 0.
    * ``"mean"``: a decaying average (rate ``decay``) of the signal over earlier batches.
    * ``"leave_one_out"``: the mean signal of the other K - 1 particles of the same example
      (needs ``num_particles >= 2``).
    * ``"nvil"``: b_psi(x) + c and the scaling 1 / max(1, sqrt(v)) of Mnih & Gregor, from an
      :class:`~pyrogen.objectives.nvil.NVILBaseline` given as ``baseline_net``. Its regression loss
      (f - b_psi(x) - c)^2 is added to the surrogate with zero value, so the baseline trains
      jointly when its parameters are optimized with the model's: attach it as a submodule of
      the trained module (see :class:`~pyrogen.objectives.nvil.NVILBaseline`). The first positional
      argument of the model and guide is the baseline's input x.

    Running statistics change only when gradients are enabled (training steps), never in
    ``loss()`` or under ``torch.no_grad()``.

    Args:
        num_particles: K, drawn at once under a particle plate.
        baseline: ``None``, ``"mean"``, ``"leave_one_out"`` or ``"nvil"``.
        baseline_net: the :class:`NVILBaseline` (only with ``baseline="nvil"``).
        decay: decay of the ``"mean"`` baseline's running average.
        data_plate: name of the plate over examples.
        max_plate_nesting: plates in the model; guessed when not given.

    References:
        Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement
        Learning, R. J. Williams, 1992, eq. (9).

        Black Box Variational Inference, R. Ranganath, S. Gerrish, D. M. Blei, 2014, eq. (3).
        https://arxiv.org/abs/1401.0118

        Neural Variational Inference and Learning in Belief Networks, A. Mnih, K. Gregor,
        2014, eq. (10)-(11). https://arxiv.org/abs/1402.0030
    """

    def __init__(
        self,
        num_particles: int = 1,
        baseline: str | None = None,
        baseline_net: NVILBaseline | None = None,
        decay: float = 0.9,
        data_plate: str = "data",
        max_plate_nesting: int | None = None,
    ):
        if baseline not in BASELINES:
            raise ValueError(f"unknown baseline {baseline!r}; expected one of {BASELINES}")
        if baseline == "leave_one_out" and num_particles < 2:
            raise ValueError(
                f"the leave-one-out baseline needs num_particles >= 2, got {num_particles}"
            )
        if baseline == "nvil" and baseline_net is None:
            raise ValueError(
                "baseline='nvil' needs baseline_net=NVILBaseline(x_shape), attached to the "
                "trained module so that its parameters are optimized with the model's"
            )
        if baseline != "nvil" and baseline_net is not None:
            raise ValueError(f"baseline_net is only used with baseline='nvil', got {baseline!r}")
        super().__init__(num_particles, data_plate, max_plate_nesting)
        self.baseline = baseline
        self.baseline_net = baseline_net
        self.decay = decay
        self.running_mean: float | None = None

    def differentiable_loss(
        self, model: Callable, guide: Callable, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        p = self._particles(model, guide, args, kwargs, detach=True)
        f = p.log_p - p.log_q  # (K, B)
        signal = f.detach()
        training = torch.is_grad_enabled()
        extra = torch.zeros((), device=f.device)
        if self.baseline is None:
            advantage = signal
        elif self.baseline == "mean":
            b = 0.0 if self.running_mean is None else self.running_mean
            advantage = signal - b
            if training:
                m = float(signal.mean())
                r = self.running_mean
                self.running_mean = m if r is None else self.decay * r + (1 - self.decay) * m
        elif self.baseline == "leave_one_out":
            k = self.num_particles
            advantage = signal - (signal.sum(0, keepdim=True) - signal) / (k - 1)
        else:
            advantage, extra = self._nvil(signal, args, training)
        surrogate = f + p.log_q * advantage
        elbo = f.detach() + surrogate - surrogate.detach()
        return -p.scale * elbo.mean(0).sum() + extra

    def _nvil(self, signal: torch.Tensor, args: tuple, training: bool):
        net = self.baseline_net
        assert net is not None
        if not args or not isinstance(args[0], torch.Tensor):
            raise ValueError("baseline='nvil' needs the observations x as first argument")
        b_x = net(args[0]).reshape(1, -1)  # (1, B) against the (K, B) signal
        center, var = net.center, net.var
        residual = signal - b_x.detach()
        advantage = residual - center
        if net.normalize:
            advantage = advantage / var.sqrt().clamp(min=1.0)
        # Regression of the baseline onto the signal; zero value, gradient only into psi.
        fit = ((signal - center - b_x) ** 2).sum()
        if training and net.training:
            net.update(residual)
        return advantage, fit - fit.detach()
