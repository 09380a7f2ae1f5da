r"""InfoGAN: a generator with structured codes and a critic with a Q head.

The generator draws noise and codes and maps them to an image::

    z ~ N(0, I),  c_cat ~ Cat(1/K) (one-hot),  c_cont ~ U(-1, 1)^L,  x = G(z, c_cat, c_cont),

and the critic's trunk carries a second head, Q(c | x): a categorical over K classes and a
factorized Gaussian over the L continuous codes. The variational lower bound on the mutual
information between codes and samples (Chen et al. 2016, Lemma 5.1, eq. (5)) is

    L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)}[log Q(c | x)] + H(c)  <=  I(c; G(z, c)),

with ``H(c) = log K + L log 2``; the game is ``min_{G, Q} max_D V(D, G) - lambda L_I(G, Q)``
(eq. (6)). :class:`~pyrogen.infer.AdversarialSVI` adds the ``lambda L_I`` term whenever the
critic has a ``mi_lower_bound`` method.

References:
    InfoGAN: Interpretable Representation Learning by Information Maximizing Generative
    Adversarial Nets, X. Chen et al., 2016, eq. (4)-(6). https://arxiv.org/abs/1606.03657
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.models.gan import Discriminator, Generator


def mi_lower_bound(
    cat_logits: torch.Tensor,
    loc: torch.Tensor,
    log_scale: torch.Tensor,
    c_cat: torch.Tensor,
    c_cont: torch.Tensor,
) -> torch.Tensor:
    r"""Per-example ``log Q(c | x) + H(c)`` for K-way one-hot and L uniform(-1, 1) codes.

    Args:
        cat_logits: Q's categorical logits ``(B, K)``.
        loc, log_scale: Q's Gaussian over the continuous codes ``(B, L)``.
        c_cat: the one-hot categorical code ``(B, K)`` the sample was generated with.
        c_cont: the continuous codes ``(B, L)``.

    Returns:
        ``(B,)``; its mean is the InfoGAN bound L_I (Chen et al. 2016, eq. (5)).
    """
    k, l_dim = cat_logits.shape[-1], c_cont.shape[-1]
    log_q = (F.log_softmax(cat_logits, -1) * c_cat).sum(-1)
    if l_dim:
        log_q = log_q + dist.Normal(loc, log_scale.exp()).log_prob(c_cont).sum(-1)
    entropy = math.log(k) + l_dim * math.log(2.0)
    return log_q + entropy


class InfoGANGenerator(Generator):
    """Generator with noise ``"z"``, a categorical code ``"c_cat"`` and uniform ``"c_cont"``.

    Args:
        x_shape, z_dim, arch, ...: as :class:`~pyrogen.models.Generator`.
        num_categories: K, the size of the categorical code (10 for MNIST digits).
        num_continuous: L, the number of continuous codes in (-1, 1).
    """

    code_sites = ("c_cat", "c_cont")

    def __init__(
        self,
        x_shape: Sequence[int] | int = (1, 28, 28),
        z_dim: int = 62,
        num_categories: int = 10,
        num_continuous: int = 2,
        **kwargs: Any,
    ):
        super().__init__(x_shape, z_dim, extra_inputs=num_categories + num_continuous, **kwargs)
        self.num_categories = int(num_categories)
        self.num_continuous = int(num_continuous)

    def _latent(self, batch: int) -> torch.Tensor:
        z = super()._latent(batch)
        probs = torch.full((self.num_categories,), 1.0 / self.num_categories, device=self.device)
        c_cat = pyro.sample("c_cat", dist.OneHotCategorical(probs=probs))
        ones = torch.ones(self.num_continuous, device=self.device)
        c_cont = pyro.sample("c_cont", dist.Uniform(-ones, ones).to_event(1))
        return torch.cat([z, c_cat, c_cont], dim=-1)

    @torch.no_grad()
    def traverse(self, z: torch.Tensor, category: torch.Tensor, c_cont: torch.Tensor):
        """Images for given noise ``(B, z_dim)``, class indices ``(B,)`` and codes ``(B, L)``."""
        c_cat = F.one_hot(category, self.num_categories).to(z)
        return self.generate(torch.cat([z, c_cat, c_cont.to(z)], dim=-1))


class InfoGANDiscriminator(Discriminator):
    """Critic with an auxiliary head Q(c | x) on the shared trunk.

    Args:
        x_shape, hidden, arch, ...: as :class:`~pyrogen.models.Discriminator`.
        num_categories: K.
        num_continuous: L.
        q_hidden: width of the Q head's hidden layer.
    """

    def __init__(
        self,
        x_shape: Sequence[int] | int = (1, 28, 28),
        num_categories: int = 10,
        num_continuous: int = 2,
        q_hidden: int = 128,
        **kwargs: Any,
    ):
        super().__init__(x_shape, **kwargs)
        self.num_categories = int(num_categories)
        self.num_continuous = int(num_continuous)
        self.q_head = nn.Sequential(
            nn.Linear(self.feature_dim, q_hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(q_hidden, self.num_categories + 2 * self.num_continuous),
        )

    def q(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q(c | x): ``(B, *x_shape)`` -> logits ``(B, K)``, loc and log-scale ``(B, L)``."""
        out = self.q_head(self.features(x))
        k, l_dim = self.num_categories, self.num_continuous
        log_scale = out[:, k + l_dim :].clamp(-5.0, 3.0)  # keeps Q's density finite
        return out[:, :k], out[:, k : k + l_dim], log_scale

    def mi_lower_bound(self, x: torch.Tensor, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-example InfoGAN bound ``(B,)`` for samples ``x`` and their codes."""
        return mi_lower_bound(*self.q(x), codes["c_cat"], codes["c_cont"])
