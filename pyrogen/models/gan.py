r"""GAN generator as a Pyro model and discriminator (critic) as a PyroModule.

The generator is an implicit model written in Pyro syntax::

    z ~ N(0, I),    x = G(z)            (conditional: x = G(z, y) for a label y),

with ``"z"`` a sample site and ``"x"`` a ``pyro.deterministic`` site, so it can be traced,
conditioned and replayed like any Pyro model. It has no tractable likelihood, so it is trained
adversarially (:class:`~pyrogen.infer.AdversarialSVI`) against a critic ``D(x) in R``.

References:
    Generative Adversarial Nets, I. Goodfellow et al., 2014, Sec. 3.
    https://arxiv.org/abs/1406.2661
    Conditional Generative Adversarial Nets, M. Mirza, S. Osindero, 2014, eq. (2).
    https://arxiv.org/abs/1411.1784
    cGANs with Projection Discriminator, T. Miyato, M. Koyama, 2018, eq. (3).
    https://arxiv.org/abs/1802.05637
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import pyro_method
from torch import nn

from pyrogen.models.base import PyroModel
from pyrogen.models.dcgan import DCGANDiscriminatorNet, DCGANGeneratorNet
from pyrogen.nn import MLP, MinibatchDiscrimination, activation
from pyrogen.validation import (
    check_num_samples,
    check_positive_int,
    check_shape,
    check_sizes,
    check_x_shape,
)

_ARCHS = ("mlp", "dcgan")


def _one_hot(y: torch.Tensor, num_classes: int, batch: int) -> torch.Tensor:
    if y.shape != (batch,) or y.dtype.is_floating_point:
        raise ValueError(
            f"labels y must be integers of shape ({batch},), got {y.dtype} {tuple(y.shape)}"
        )
    if bool(((y < 0) | (y >= num_classes)).any()):
        raise ValueError(f"labels y must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    return F.one_hot(y, num_classes).float()


class Generator(PyroModel):
    r"""Implicit generative model ``z ~ N(0, I), x = G(z[, y])`` in Pyro syntax.

    Args:
        x_shape: shape of one sample, e.g. ``(2,)`` for toys or ``(1, 28, 28)``.
        z_dim: latent size.
        hidden: hidden sizes of the MLP (``arch="mlp"``).
        arch: ``"mlp"`` or ``"dcgan"`` (images, see :mod:`pyrogen.models.dcgan`).
        num_classes: > 0 makes the generator conditional on a label ``y`` (one-hot input).
        act: activation of the MLP.
        output: output activation; ``None`` picks ``"sigmoid"`` for images in [0, 1] and
            ``"identity"`` otherwise.
        extra_inputs: features appended to z by subclasses (InfoGAN's codes).

    Example:
        >>> import torch, pyro
        >>> from pyrogen.models import Generator
        >>> g = Generator((2,), z_dim=3, hidden=(8,))
        >>> tr = pyro.poutine.trace(g.model).get_trace(num_samples=5)
        >>> tr.nodes["z"]["value"].shape, tr.nodes["x"]["value"].shape
        (torch.Size([5, 3]), torch.Size([5, 2]))
    """

    code_sites: tuple[str, ...] = ()

    def __init__(
        self,
        x_shape: Sequence[int] | int = (2,),
        z_dim: int = 2,
        hidden: Sequence[int] = (128, 128),
        arch: str = "mlp",
        num_classes: int = 0,
        act: str = "relu",
        output: str | None = None,
        extra_inputs: int = 0,
        channels: tuple[int, int] = (128, 64),
    ):
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f"unknown arch {arch!r}; expected one of {_ARCHS}")
        self.x_shape = check_x_shape(x_shape)
        self.z_dim = check_positive_int(z_dim, "z_dim")
        hidden = check_sizes(hidden, "hidden", allow_empty=True)
        self.num_classes = int(num_classes)
        self.arch = arch
        in_dim = self.z_dim + self.num_classes + int(extra_inputs)
        output = output or ("sigmoid" if len(self.x_shape) == 3 else "identity")
        if arch == "dcgan":
            self.net: nn.Module = DCGANGeneratorNet(in_dim, self.x_shape, channels, output)
        else:
            x_dim = int(torch.Size(self.x_shape).numel())
            outs = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}
            if output not in outs:
                raise ValueError(f"unknown output {output!r}; expected one of {sorted(outs)}")
            self.net = nn.Sequential(MLP(in_dim, hidden, x_dim, act), outs[output]())
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def _latent(self, batch: int) -> torch.Tensor:
        """Samples the latent sites inside the data plate; returns the net input (B, in_dim)."""
        zeros = self._anchor.new_zeros(self.z_dim)
        return pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))

    def generate(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``G``: ``(B, in_dim - num_classes)`` -> ``(B, *x_shape)``, appending one-hot y."""
        if self.num_classes:
            if y is None:
                raise ValueError(f"this generator is conditional on {self.num_classes} classes")
            h = torch.cat([h, _one_hot(y, self.num_classes, h.shape[0])], dim=-1)
        return self.net(h).reshape(h.shape[0], *self.x_shape)

    @pyro_method
    def model(
        self,
        x: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        num_samples: int | None = None,
    ) -> torch.Tensor:
        """Samples ``"z"`` and records ``"x" = G(z, y)``; ``x`` only sets the batch size."""
        if x is not None:
            check_shape(x, self.x_shape)
            batch = x.shape[0]
        elif y is not None:
            batch = y.shape[0]
        else:
            batch = 1 if num_samples is None else int(num_samples)
        with pyro.plate("data", batch):
            h = self._latent(batch)
            return pyro.deterministic("x", self.generate(h, y), event_dim=len(self.x_shape))

    def guide(self, *args: object, **kwargs: object) -> None:
        """An implicit model has nothing to infer: the guide samples no site."""
        return None

    @torch.no_grad()
    def sample(self, num_samples: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """Draws ``(num_samples, *x_shape)``."""
        return self.model(num_samples=check_num_samples(num_samples), y=y)


class Discriminator(PyroModel):
    r"""Critic ``D(x[, y]) in R``: a trunk of features and a linear score (logit).

    Conditional critics use the projection of Miyato & Koyama (2018):
    ``D(x, y) = w^T phi(x) + e_y^T phi(x)`` with a learned class embedding ``e_y``.

    Args:
        x_shape: shape of one input.
        hidden: hidden sizes of the MLP trunk (``arch="mlp"``); the last is the feature size.
        arch: ``"mlp"`` or ``"dcgan"``.
        num_classes: > 0 makes the critic conditional on labels.
        act: activation of the MLP trunk.
        norm: normalization of the DCGAN trunk (``"batch"``, ``"layer"``, ``"none"``).
        minibatch_features: > 0 appends that many minibatch-discrimination statistics to the
            trunk's features (:class:`~pyrogen.nn.MinibatchDiscrimination`, Salimans et al.
            2016, Sec. 3.2); the critic then scores each example within its batch.
        minibatch_kernel_dim: C, the size of each minibatch-discrimination kernel row.

    Shapes:
        ``forward(x (B, *x_shape), y (B,) or None) -> (B,)``;
        ``features(x) -> (B, F)``.
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int = (2,),
        hidden: Sequence[int] = (128, 128),
        arch: str = "mlp",
        num_classes: int = 0,
        act: str = "relu",
        norm: str = "batch",
        channels: tuple[int, int] = (64, 128),
        minibatch_features: int = 0,
        minibatch_kernel_dim: int = 5,
    ):
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f"unknown arch {arch!r}; expected one of {_ARCHS}")
        self.x_shape = check_x_shape(x_shape)
        self.num_classes = int(num_classes)
        self.arch = arch
        self.minibatch: MinibatchDiscrimination | None = None
        if arch == "dcgan":
            trunk = DCGANDiscriminatorNet(self.x_shape, channels, norm)
            self.feature_dim = trunk.out_dim
            self.trunk: nn.Module = trunk
        else:
            x_dim = int(torch.Size(self.x_shape).numel())
            hidden = check_sizes(hidden, "hidden")
            self.trunk = nn.Sequential(
                nn.Flatten(), MLP(x_dim, hidden[:-1], hidden[-1], act), activation(act)
            )
            self.feature_dim = hidden[-1]
        if minibatch_features:
            self.minibatch = MinibatchDiscrimination(
                self.feature_dim, minibatch_features, minibatch_kernel_dim
            )
            self.feature_dim = self.minibatch.out_features
        self.head = nn.Linear(self.feature_dim, 1)
        if self.num_classes:
            self.embed = nn.Embedding(self.num_classes, self.feature_dim)
            # Small class embeddings: the projection term starts near zero, not at O(sqrt F).
            nn.init.normal_(self.embed.weight, std=0.02)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's features ``(B, F)`` (used by feature matching), followed by the
        minibatch-discrimination statistics when the critic has them."""
        phi = self.trunk(x)
        return phi if self.minibatch is None else self.minibatch(phi)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[1:] != self.x_shape:
            raise ValueError(
                f"critic input must have shape (batch, {', '.join(map(str, self.x_shape))}), "
                f"got {tuple(x.shape)}"
            )
        phi = self.features(x)
        out = self.head(phi).squeeze(-1)
        if self.num_classes:
            if y is None:
                raise ValueError(f"this critic is conditional on {self.num_classes} classes")
            _one_hot(y, self.num_classes, x.shape[0])  # checks shape and range
            out = out + (self.embed(y) * phi).sum(-1)
        return out
