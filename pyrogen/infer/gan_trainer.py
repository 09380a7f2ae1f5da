"""Builds a ready GAN stepper from a data shape and a loss name (used by the CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyrogen.infer.adversarial import AdversarialSVI
from pyrogen.infer.gan_loss import GAN_KINDS, GANLoss


def make_gan_trainer(
    dataset_shape: Sequence[int],
    loss: str = "nonsaturating",
    *,
    z_dim: int = 64,
    arch: str | None = None,
    hidden: Sequence[int] = (128, 128),
    n_critic: int | None = None,
    num_classes: int = 0,
    **loss_options: Any,
) -> AdversarialSVI:
    """Generator, critic, loss and the paper's optimizers for data of one shape.

    Args:
        dataset_shape: shape of one example: ``(D,)`` for vectors (2-D toys), ``(C, H, W)``
            for images (H, W divisible by 4 for the DCGAN networks).
        loss: one of :data:`~pyrogen.infer.gan_loss.GAN_KINDS`.
        z_dim: latent size.
        arch: ``"mlp"`` or ``"dcgan"``; ``None`` picks DCGAN for images, MLP for vectors.
        hidden: hidden sizes of the MLP networks.
        n_critic: critic updates per generator update; ``None`` gives 5 for the Wasserstein
            losses (as in both WGAN papers) and 1 otherwise.
        num_classes: > 0 builds a conditional GAN (labels passed to ``step(x, y)``).
        **loss_options: passed to :class:`~pyrogen.infer.GANLoss` (``label_smoothing``,
            ``instance_noise``, ``unrolled_steps``, ``gp``, ...).

    Example:
        >>> from pyrogen.infer import make_gan_trainer
        >>> t = make_gan_trainer((1, 28, 28), "wgan-gp")
        >>> t.loss.gp, t.n_critic, t.module.discriminator.arch
        (10.0, 5, 'dcgan')
    """
    from pyrogen.models.gan import Discriminator, Generator

    if loss not in GAN_KINDS:
        raise ValueError(f"unknown GAN loss {loss!r}; expected one of {list(GAN_KINDS)}")
    shape = tuple(int(s) for s in dataset_shape)
    if arch is None:
        arch = "dcgan" if len(shape) == 3 and shape[1] % 4 == 0 and shape[2] % 4 == 0 else "mlp"
    # Batch norm mixes examples, which breaks the per-example gradient penalty (Gulrajani et
    # al. 2017, Sec. 4); the critic gets layer norm instead.
    norm = "layer" if loss == "wgan-gp" or loss_options.get("gp") else "batch"
    generator = Generator(shape, z_dim, hidden, arch=arch, num_classes=num_classes)
    critic = Discriminator(shape, hidden, arch=arch, num_classes=num_classes, norm=norm)
    if n_critic is None:
        n_critic = 5 if loss in ("wasserstein", "wgan-gp") else 1
    return AdversarialSVI(generator, critic, GANLoss(loss, **loss_options), n_critic=n_critic)
