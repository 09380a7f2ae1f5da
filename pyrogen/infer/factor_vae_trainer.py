r"""The FactorVAE stepper: a VAE step on -ELBO + gamma * TC, then a discriminator step.

The total correlation TC(z) = KL(q(z) || prod_j q(z_j)) is estimated by the discriminator of
:class:`~pyrogen.models.FactorVAE` (the density-ratio trick); this stepper owns the two
optimizers and alternates their updates.
"""

from __future__ import annotations

from typing import Any

import pyro
import torch
import torch.nn.functional as F

from pyrogen.infer.stepper import make_adam
from pyrogen.models.factor_vae import FactorVAE, permute_dims


class FactorVAETrainer:
    r"""Alternating FactorVAE updates, following the :class:`~pyrogen.infer.Stepper` protocol.

    Each batch is split in two halves (the paper's two independent batches). On the first
    the VAE takes a step on -ELBO/B + gamma * mean logit(z); then the discriminator takes a
    step on the logistic loss of z (label 1, detached) against the dimension-shuffled codes
    of the second half (label 0).

    Args:
        module: a :class:`~pyrogen.models.FactorVAE`.
        gamma: weight of the total-correlation penalty.
        lr: Adam learning rate of the VAE (the paper: 1e-4).
        lr_disc: Adam learning rate of the discriminator (the paper: 1e-4, betas (0.5, 0.9)).

    References:
        Disentangling by Factorising, H. Kim, A. Mnih, 2018, Algorithm 1.
        https://arxiv.org/abs/1802.05983
    """

    def __init__(
        self, module: FactorVAE, gamma: float = 10.0, lr: float = 1e-3, lr_disc: float = 1e-4
    ):
        if not isinstance(module, FactorVAE):
            raise TypeError(f"FactorVAETrainer needs a FactorVAE, got {type(module).__name__}")
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.module = module
        self.gamma = float(gamma)
        self._lr, self._lr_disc = lr, lr_disc
        self._optims: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None

    @property
    def optims(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        # Built lazily so that they see the parameters after fit() moved the module.
        if self._optims is None:
            vae = [p for n, p in self.module.named_parameters() if not n.startswith("discrim")]
            disc = self.module.discriminator.parameters()
            self._optims = (
                make_adam(vae, lr=self._lr),
                make_adam(disc, lr=self._lr_disc, betas=(0.5, 0.9)),
            )
        return self._optims

    def _vae_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-example ELBO, TC estimate and the codes z ~ q(z|x) of a batch."""
        m = self.module
        with pyro.settings.context(module_local_params=True):
            guide_tr = pyro.poutine.trace(m.guide).get_trace(x)
            model = pyro.poutine.replay(m.model, trace=guide_tr)
            model_tr = pyro.poutine.trace(model).get_trace(x)
        elbo = torch.as_tensor(model_tr.log_prob_sum() - guide_tr.log_prob_sum()) / x.shape[0]
        z = torch.as_tensor(guide_tr.nodes["z"]["value"])
        return elbo, m.tc_estimate(z), z

    def discriminator_step(self, z: torch.Tensor, z_other: torch.Tensor) -> torch.Tensor:
        r"""One discriminator update: ``z`` (B, D) from q(z) against ``permute_dims(z_other)``.

        Returns the logistic loss -[mean log D(z) + mean log(1 - D(z_perm))] / 2 (0-dim).
        """
        _, optim_d = self.optims
        z_perm = permute_dims(z_other.detach())
        logits = self.module.tc_logits(torch.cat([z.detach(), z_perm]))
        labels = torch.cat([logits.new_ones(len(z)), logits.new_zeros(len(z_perm))])
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        optim_d.zero_grad(set_to_none=True)
        loss.backward()
        optim_d.step()
        return loss.detach()

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[0] < 4:
            raise ValueError(
                f"FactorVAE splits each batch in two halves and needs a batch of at least 4, "
                f"got {x.shape[0]}"
            )
        half = x.shape[0] // 2
        return x[:half], x[half:]

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.train()
        optim_vae, _ = self.optims
        x1, x2 = self._split(x)
        elbo, tc, z = self._vae_terms(x1)
        loss = -elbo + self.gamma * tc
        optim_vae.zero_grad(set_to_none=True)
        loss.backward()
        optim_vae.step()
        with torch.no_grad():
            loc, scale = self.module.encode(x2)
            z2 = loc + scale * torch.randn_like(loc)
        d_loss = self.discriminator_step(z, z2)
        return {"loss": loss.detach(), "elbo": elbo.detach(), "tc": tc.detach(), "d_loss": d_loss}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.eval()
        x1, x2 = self._split(x)
        elbo, tc, z = self._vae_terms(x1)
        loc, scale = self.module.encode(x2)
        z_perm = permute_dims(loc + scale * torch.randn_like(loc))
        logits = self.module.tc_logits(torch.cat([z, z_perm]))
        labels = torch.cat([logits.new_ones(len(z)), logits.new_zeros(len(z_perm))])
        d_loss = F.binary_cross_entropy_with_logits(logits, labels)
        loss = -elbo + self.gamma * tc
        return {"loss": loss, "elbo": elbo, "tc": tc, "d_loss": d_loss}

    def state_dict(self) -> dict[str, Any]:
        optim_vae, optim_d = self.optims
        return {
            "module": self.module.state_dict(),
            "optim": optim_vae.state_dict(),
            "optim_disc": optim_d.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        optim_vae, optim_d = self.optims
        optim_vae.load_state_dict(state["optim"])
        optim_d.load_state_dict(state["optim_disc"])
