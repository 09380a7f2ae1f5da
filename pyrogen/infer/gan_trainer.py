"""Builds GANs and their steppers from a data shape and a loss name (used by the CLI)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from pyrogen.infer.adversarial import AdversarialSVI, GANPair, default_optimizer
from pyrogen.nn.minibatch_discrimination import MinibatchDiscrimination
from pyrogen.objectives.gan_loss import GAN_KINDS, GANLoss

DEFAULT_LOSS = "nonsaturating"


def _check_kind(loss: str) -> None:
    if loss not in GAN_KINDS:
        raise ValueError(f"unknown GAN loss {loss!r}; expected one of {list(GAN_KINDS)}")


def default_arch(x_shape: Sequence[int]) -> str:
    """``"dcgan"`` for images ``(C, H, W)`` with H and W divisible by 4, else ``"mlp"``."""
    shape = tuple(int(s) for s in x_shape)
    return "dcgan" if len(shape) == 3 and shape[1] % 4 == 0 and shape[2] % 4 == 0 else "mlp"


def build_gan(
    x_shape: Sequence[int],
    z_dim: int = 64,
    hidden: Sequence[int] = (128, 128),
    loss: str = DEFAULT_LOSS,
    arch: str | None = None,
    num_classes: int = 0,
    width: int = 64,
    norm: str | None = None,
    **_: Any,
) -> GANPair:
    """A generator and a critic suited to data of shape ``x_shape`` and to the loss.

    Args:
        x_shape: shape of one example: ``(D,)`` for vectors (2-D toys), ``(C, H, W)`` for
            images (H, W divisible by 4 for the DCGAN networks).
        z_dim: latent size.
        hidden: hidden sizes of the MLP networks.
        loss: the GAN loss; gradient-penalty losses get a critic without batch norm, which
            mixes examples and breaks the per-example penalty (Gulrajani et al. 2017, Sec. 4).
        arch: ``"mlp"`` or ``"dcgan"``; ``None`` picks DCGAN for images, MLP for vectors.
        num_classes: > 0 builds a conditional GAN.
        width: DCGAN channel width w: generator maps (2w, w), critic maps (w, 2w).
        norm: normalization of the DCGAN critic; ``None`` picks ``"layer"`` for
            ``wgan-gp`` and ``"batch"`` (Radford et al.) otherwise.
    """
    from pyrogen.models.gan import Discriminator, Generator

    loss = DEFAULT_LOSS if loss in (None, "elbo") else loss
    _check_kind(loss)
    shape = tuple(int(s) for s in x_shape)
    if arch is None:
        arch = default_arch(shape)
    if norm is None:
        norm = "layer" if loss == "wgan-gp" else "batch"
    w = int(width)
    generator = Generator(
        shape, z_dim, hidden, arch=arch, num_classes=num_classes, channels=(2 * w, w)
    )
    critic = Discriminator(
        shape, hidden, arch=arch, num_classes=num_classes, norm=norm, channels=(w, 2 * w)
    )
    return GANPair(generator, critic)


def gan_stepper(module: nn.Module, config: dict[str, Any]) -> AdversarialSVI:
    """The stepper of a :func:`build_gan` pair for a CLI config (``config["loss"]``,
    ``config["lr"]``, ``config["n_critic"]``; see :func:`adversarial_stepper`).

    A loss name ``"elbo"`` (in run directories written before the GAN had a default loss of
    its own) stands for the GAN default, ``"nonsaturating"``.
    """
    if not isinstance(module, GANPair):
        raise TypeError(f"gan_stepper needs a GANPair (see build_gan), got {type(module).__name__}")
    loss = config.get("loss") or DEFAULT_LOSS
    loss = DEFAULT_LOSS if loss == "elbo" else loss
    lr = config.get("lr")
    n_critic = config.get("n_critic")
    return adversarial_stepper(
        module, loss, n_critic=None if n_critic is None else int(n_critic), lr=lr
    )


def adversarial_stepper(
    pair: GANPair,
    loss: str = DEFAULT_LOSS,
    *,
    n_critic: int | None = None,
    lr: float | None = None,
    **loss_options: Any,
) -> AdversarialSVI:
    """The alternating stepper of a generator/critic pair under a GAN loss.

    Args:
        pair: the generator and the critic.
        loss: one of :data:`~pyrogen.objectives.gan_loss.GAN_KINDS`.
        n_critic: critic updates per generator update; ``None`` gives 5 for the Wasserstein
            losses (as in both WGAN papers) and 1 otherwise.
        lr: both players' learning rate; ``None`` keeps the paper's
            (:func:`~pyrogen.infer.adversarial.default_optimizer`, whose algorithm and betas
            are kept either way).
        **loss_options: passed to :class:`~pyrogen.objectives.GANLoss` (``label_smoothing``,
            ``instance_noise``, ``unrolled_steps``, ``gp``, ...).
    """
    _check_kind(loss)
    mixing = (nn.modules.batchnorm._BatchNorm, MinibatchDiscrimination)
    if (loss == "wgan-gp" or loss_options.get("gp")) and any(
        isinstance(m, mixing) for m in pair.discriminator.modules()
    ):
        raise ValueError(
            "a gradient penalty needs a critic whose score of an example does not depend on "
            "the rest of the batch (no batch norm, no minibatch discrimination: the penalty is "
            "per example); build the pair with build_gan(x_shape, loss='wgan-gp')"
        )
    if n_critic is None:
        n_critic = 5 if loss in ("wasserstein", "wgan-gp") else 1
    optim = None if lr is None else _paper_optimizer_at(loss, float(lr))
    return AdversarialSVI(
        pair.generator,
        pair.discriminator,
        GANLoss(loss, **loss_options),
        optim_g=optim,
        optim_d=optim,
        n_critic=n_critic,
    )


def _paper_optimizer_at(
    kind: str, lr: float
) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
    """The paper's optimizer of loss ``kind`` (its betas, its algorithm) at learning rate ``lr``."""

    def make(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        optim = default_optimizer(kind, params)
        for group in optim.param_groups:
            group["lr"] = lr
        return optim

    return make


def make_gan_trainer(
    dataset_shape: Sequence[int],
    loss: str = DEFAULT_LOSS,
    *,
    z_dim: int = 64,
    arch: str | None = None,
    hidden: Sequence[int] = (128, 128),
    n_critic: int | None = None,
    num_classes: int = 0,
    width: int = 64,
    **loss_options: Any,
) -> AdversarialSVI:
    """Generator, critic, loss and the papers' optimizers for data of one shape.

    Args:
        dataset_shape: shape of one example, see :func:`build_gan`.
        loss: one of :data:`~pyrogen.objectives.gan_loss.GAN_KINDS`.
        z_dim, arch, hidden, num_classes, width: see :func:`build_gan`.
        n_critic, loss_options: see :func:`adversarial_stepper`.

    Example:
        >>> from pyrogen.infer import make_gan_trainer
        >>> t = make_gan_trainer((1, 28, 28), "wgan-gp")
        >>> t.loss.gp, t.n_critic, t.module.discriminator.arch
        (10.0, 5, 'dcgan')
    """
    _check_kind(loss)
    # Any gradient penalty (also gp= on another loss) needs a critic without batch norm.
    norm = "layer" if loss == "wgan-gp" or loss_options.get("gp") else None
    pair = build_gan(dataset_shape, z_dim, hidden, loss, arch, num_classes, width, norm)
    return adversarial_stepper(pair, loss, n_critic=n_critic, **loss_options)
