r"""Adversarial objectives: discriminator and generator terms of the GAN family.

The critic returns raw scores ``v`` (logits for the classifier losses). With ``v_r`` on data
and ``v_f`` on generated samples, the critic maximizes ``value`` and the generator minimizes
``generator_loss``:

=================  =============================================  ==========================
kind               critic maximizes                               generator minimizes
=================  =============================================  ==========================
minimax            E log D(x) + E log(1 - D(G(z)))                E log(1 - D(G(z)))
nonsaturating      same                                           -E log D(G(z))
wasserstein        E v_r - E v_f, weights clipped to [-c, c]      -E v_f
wgan-gp            E v_r - E v_f - lambda E(|grad v(x_hat)| - 1)^2  -E v_f
hinge              -E relu(1 - v_r) - E relu(1 + v_f)             -E v_f
ls                 -1/2 E (v_r - 1)^2 - 1/2 E v_f^2               1/2 E (v_f - 1)^2
f:<name>           E g_f(v_r) - E f*(g_f(v_f))                    -E f*(g_f(v_f))
=================  =============================================  ==========================

At the optimal critic the minimax value is ``2 JS(p, q) - log 4`` (Goodfellow et al.,
Theorem 1), the Wasserstein value is W1(p, q) (Kantorovich-Rubinstein duality), and the f-GAN
value is the tight lower bound on D_f(p || q).

References:
    Generative Adversarial Nets, I. Goodfellow et al., 2014, eq. (1), Theorem 1, Sec. 3.
    https://arxiv.org/abs/1406.2661
    Wasserstein GAN, M. Arjovsky, S. Chintala, L. Bottou, 2017, eq. (3), Algorithm 1.
    https://arxiv.org/abs/1701.07875
    Improved Training of Wasserstein GANs, I. Gulrajani et al., 2017, eq. (3), Algorithm 1.
    https://arxiv.org/abs/1704.00028
    Geometric GAN, J. H. Lim, J. C. Ye, 2017, eq. (9)-(10). https://arxiv.org/abs/1705.02894
    Least Squares Generative Adversarial Networks, X. Mao et al., 2017, eq. (2).
    https://arxiv.org/abs/1611.04076
    f-GAN, S. Nowozin, B. Cseke, R. Tomioka, 2016, eq. (6). https://arxiv.org/abs/1606.00709
    Improved Techniques for Training GANs, T. Salimans et al., 2016, Sec. 3.1, 3.3, 3.4.
    https://arxiv.org/abs/1606.03498
    Unrolled Generative Adversarial Networks, L. Metz et al., 2017, eq. (4)-(6).
    https://arxiv.org/abs/1611.02163
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.objectives.f_divergences import F_DIVERGENCES, get_f_divergence

GAN_KINDS: tuple[str, ...] = (
    "minimax",
    "nonsaturating",
    "wasserstein",
    "wgan-gp",
    "hinge",
    "ls",
    *(f"f:{k}" for k in F_DIVERGENCES),
)
_SMOOTHABLE = ("minimax", "nonsaturating", "ls")


class GANLoss(nn.Module):
    r"""Critic and generator terms of one adversarial objective, with the usual tricks.

    Args:
        kind: one of :data:`GAN_KINDS`.
        label_smoothing: one-sided label smoothing alpha: the critic's target on data is
            ``1 - alpha``, on samples stays 0 (Salimans et al. 2016, Sec. 3.4). Only for the
            classifier losses ``minimax``, ``nonsaturating`` and ``ls``.
        instance_noise: standard deviation of Gaussian noise added to both data and samples
            before the critic sees them (Sonderby et al. 2017; seeds: "adding noise").
        feature_matching: the generator matches the mean critic features on data and samples,
            ``||E f(x) - E f(G(z))||^2`` (Salimans et al. 2016, Sec. 3.1), instead of its
            adversarial loss; the critic must have ``features(x)``.
        historical_averaging: weight of ``||theta - mean of past theta||^2`` added to both
            players' losses (Salimans et al. 2016, Sec. 3.3).
        unrolled_steps: K > 0 lets the generator see the critic after K differentiable SGD
            steps (Metz et al. 2017, eq. (4)-(6)).
        unrolled_lr: learning rate of those SGD steps; defaults to the critic optimizer's.
        clip: weight clipping bound c; defaults to 0.01 for ``wasserstein`` (Arjovsky et al.).
        gp: gradient penalty weight lambda; defaults to 10 for ``wgan-gp`` (Gulrajani et al.).
    """

    def __init__(
        self,
        kind: str = "nonsaturating",
        *,
        label_smoothing: float = 0.0,
        instance_noise: float = 0.0,
        feature_matching: bool = False,
        historical_averaging: float = 0.0,
        unrolled_steps: int = 0,
        unrolled_lr: float | None = None,
        clip: float | None = None,
        gp: float | None = None,
    ):
        super().__init__()
        if kind not in GAN_KINDS:
            raise ValueError(f"unknown GAN loss {kind!r}; expected one of {list(GAN_KINDS)}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        if label_smoothing and kind not in _SMOOTHABLE:
            raise ValueError(
                f"label smoothing applies to the classifier losses {_SMOOTHABLE}, not {kind!r}"
            )
        for name, v in (("instance_noise", instance_noise), ("unrolled_steps", unrolled_steps)):
            if v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if historical_averaging < 0:
            raise ValueError(f"historical_averaging must be >= 0, got {historical_averaging}")
        self.kind = kind
        self.label_smoothing = float(label_smoothing)
        self.instance_noise = float(instance_noise)
        self.feature_matching = bool(feature_matching)
        self.historical_averaging = float(historical_averaging)
        self.unrolled_steps = int(unrolled_steps)
        self.unrolled_lr = unrolled_lr
        self.clip = 0.01 if clip is None and kind == "wasserstein" else clip
        self.gp = (10.0 if kind == "wgan-gp" else 0.0) if gp is None else float(gp)
        self.fdiv = get_f_divergence(kind) if kind.startswith("f:") else None

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, clip={self.clip}, gp={self.gp}"

    # -- the two players' terms ---------------------------------------------------------------
    def value(self, v_real: torch.Tensor, v_fake: torch.Tensor) -> torch.Tensor:
        r"""The critic's objective (no smoothing, no penalty); shapes ``(B,)`` -> ``()``.

        At the optimal critic: ``2 JS - log 4`` (minimax, nonsaturating), W1 (wasserstein,
        wgan-gp), D_f (f-GAN); below it for any other critic.
        """
        return -self._critic_loss(v_real, v_fake, smoothing=0.0)

    def discriminator_loss(self, v_real: torch.Tensor, v_fake: torch.Tensor) -> torch.Tensor:
        """What the critic minimizes (the negative value, with label smoothing); ``()``."""
        return self._critic_loss(v_real, v_fake, smoothing=self.label_smoothing)

    def _critic_loss(
        self, v_real: torch.Tensor, v_fake: torch.Tensor, smoothing: float
    ) -> torch.Tensor:
        k = self.kind
        if k in ("minimax", "nonsaturating"):
            # Binary cross-entropy on logits with target 1 - alpha on data, 0 on samples.
            real = (1.0 - smoothing) * F.softplus(-v_real) + smoothing * F.softplus(v_real)
            return real.mean() + F.softplus(v_fake).mean()
        if k in ("wasserstein", "wgan-gp"):
            return v_fake.mean() - v_real.mean()
        if k == "hinge":
            return F.relu(1.0 - v_real).mean() + F.relu(1.0 + v_fake).mean()
        if k == "ls":
            return 0.5 * ((v_real - (1.0 - smoothing)) ** 2).mean() + 0.5 * (v_fake**2).mean()
        assert self.fdiv is not None
        t_real = self.fdiv.activation(v_real)
        t_fake = self.fdiv.activation(v_fake)
        return self.fdiv.conjugate(t_fake).mean() - t_real.mean()

    def generator_loss(self, v_fake: torch.Tensor) -> torch.Tensor:
        """What the generator minimizes, from the critic's scores on samples ``(B,)``; ``()``."""
        k = self.kind
        if k == "minimax":
            return -F.softplus(v_fake).mean()
        if k == "nonsaturating":
            return F.softplus(-v_fake).mean()
        if k in ("wasserstein", "wgan-gp", "hinge"):
            return -v_fake.mean()
        if k == "ls":
            return 0.5 * ((v_fake - 1.0) ** 2).mean()
        assert self.fdiv is not None
        # The saddle-point objective of Nowozin et al., eq. (6): the E_P term is constant in G.
        return -self.fdiv.conjugate(self.fdiv.activation(v_fake)).mean()

    # -- tricks ---------------------------------------------------------------------------------
    def gradient_penalty(
        self, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor:
        r"""``lambda E (||grad_x critic(x_hat)||_2 - 1)^2`` at ``x_hat = eps x + (1 - eps) x~``.

        One ``eps ~ U(0, 1)`` per example (Gulrajani et al. 2017, Algorithm 1, lines 4-7).

        Args:
            critic: maps ``(B, *event)`` to scores ``(B,)``.
            real: data ``(B, *event)``.
            fake: samples ``(B, *event)``, same shape.
        """
        if real.shape != fake.shape:
            raise ValueError(
                f"gradient penalty needs data and samples of one shape, got "
                f"{tuple(real.shape)} and {tuple(fake.shape)}"
            )
        eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
        x_hat = (eps * real + (1.0 - eps) * fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(dim=1)
        return self.gp * ((norm - 1.0) ** 2).mean()

    def perturb(self, x: torch.Tensor) -> torch.Tensor:
        """Adds instance noise N(0, sigma^2) to ``x`` (identity when sigma is 0)."""
        if self.instance_noise == 0.0:
            return x
        return x + self.instance_noise * torch.randn_like(x)

    @torch.no_grad()
    def clip_(self, critic: nn.Module) -> None:
        """Clamps every critic weight to ``[-c, c]`` in place (Arjovsky et al., Alg. 1 l. 7)."""
        if self.clip is not None:
            for p in critic.parameters():
                p.clamp_(-self.clip, self.clip)

    @staticmethod
    def feature_matching_loss(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
        """``||mean f(x) - mean f(G(z))||^2`` over features ``(B, F)``; ``()``."""
        return ((f_real.mean(0) - f_fake.mean(0)) ** 2).sum()
