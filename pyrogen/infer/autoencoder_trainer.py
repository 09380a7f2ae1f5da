r"""The stepper of the deterministic autoencoders: one optimizer step on the model's loss.

:class:`~pyrogen.models.Autoencoder`, :class:`~pyrogen.models.DenoisingAutoencoder` and
:class:`~pyrogen.models.ContractiveAutoencoder` are trained by a reconstruction loss (plus
their regularizer), not by an ELBO; their ``losses(x)`` returns the objective as ``"loss"``
and its terms, and this stepper minimizes it under :func:`~pyrogen.infer.fit`, with the same
checkpoints, resumption and metrics as every other stepper.
"""

from __future__ import annotations

from typing import Any

import torch

from pyrogen.infer.stepper import LazyAdam
from pyrogen.models.autoencoder import Autoencoder


class AutoencoderTrainer(LazyAdam):
    r"""Minimizes ``module.losses(x)["loss"]`` per batch (:class:`~pyrogen.infer.Stepper`).

    ``step(x)`` and ``evaluate(x)`` report every term of ``losses`` (``"loss"``, ``"recon"``,
    and ``"contractive"`` or ``"scale_nll"`` for the regularized models), averaged over the
    batch. ``evaluate`` runs the same objective without updating; for a denoising
    autoencoder it draws a fresh corruption, as training does.

    Args:
        module: an :class:`~pyrogen.models.Autoencoder` (or a subclass).
        lr: learning rate of the default Adam.
        optim: a torch optimizer over ``module``'s parameters instead of Adam.

    Example:
        >>> import torch
        >>> from pyrogen.infer import AutoencoderTrainer, fit
        >>> from pyrogen.models import Autoencoder
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(256, 3) @ torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0, 0, 0.1]])
        >>> ae = Autoencoder(3, code_dim=2, code_act=None)
        >>> trainer = AutoencoderTrainer(ae, lr=3e-2)
        >>> history = fit(trainer, x, epochs=20, batch_size=32, progress=False)
        >>> # A linear 2-D code loses about the smallest variance of x (PCA): 0.004.
        >>> history[-1]["train_loss"] < 0.02 < history[0]["train_loss"]
        True
    """

    def __init__(
        self, module: Autoencoder, lr: float = 1e-3, optim: torch.optim.Optimizer | None = None
    ):
        if not isinstance(module, Autoencoder):
            raise TypeError(
                f"AutoencoderTrainer needs an Autoencoder (or a denoising/contractive one), got "
                f"{type(module).__name__}; train model/guide pairs with SVITrainer"
            )
        self.module = module
        self._lr = lr
        self._optim = optim

    def _optimized(self) -> list[torch.Tensor]:
        return list(self.module.parameters())

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.module.training:
            self.module.train()
        out = self.module.losses(x)
        self.optim.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.optim.step()
        return {k: v.detach() for k, v in out.items()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.module.eval()
        return {k: v.detach() for k, v in self.module.losses(x).items()}

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "optim": self.optim.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
