r"""The stage-1 VQ-VAE stepper: one Adam step on the model's reconstruction, codebook and
commitment losses.
"""

from __future__ import annotations

from typing import Any

import torch

from pyrogen.infer.stepper import LazyAdam
from pyrogen.models.vq_vae import VQVAE
from pyrogen.models.vq_vae2 import VQVAE2


class VQVAETrainer(LazyAdam):
    """Stage-1 VQ-VAE updates (:class:`~pyrogen.infer.Stepper` protocol): one Adam step on
    :meth:`~pyrogen.models.VQVAE.losses` (or :meth:`~pyrogen.models.VQVAE2.losses`) per
    batch; reports reconstruction, both VQ terms, perplexity and codebook usage.

    Args:
        module: a :class:`~pyrogen.models.VQVAE` or a two-level
            :class:`~pyrogen.models.VQVAE2`.
        lr: Adam learning rate (the paper: 2e-4).
    """

    def __init__(self, module: VQVAE | VQVAE2, lr: float = 2e-4):
        if not isinstance(module, VQVAE | VQVAE2):
            raise TypeError(f"VQVAETrainer needs a VQVAE or VQVAE2, got {type(module).__name__}")
        self.module = module
        self._lr = lr
        self._optim: torch.optim.Optimizer | None = None

    def _optimized(self) -> list[torch.Tensor]:
        # The stage-2 prior, if attached, is trained separately.
        return [p for n, p in self.module.named_parameters() if not n.startswith("prior.")]

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.train()
        out = self.module.losses(x)
        self.optim.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.optim.step()
        return {k: v.detach() for k, v in out.items()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.eval()
        return self.module.losses(x)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "optim": self.optim.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
