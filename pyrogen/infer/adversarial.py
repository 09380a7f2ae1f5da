r"""Alternating two-player training of a Pyro generator against a critic.

Each :meth:`AdversarialSVI.step` makes one critic update on the batch and, every
``n_critic`` steps, one generator update (Goodfellow et al. 2014, Algorithm 1; Arjovsky et
al. 2017, Algorithm 1, where each critic iteration sees a fresh data batch). The generator is
a Pyro model: samples are read off the ``"x"`` site of its trace, so any model with a
deterministic ``"x"`` site can be trained.

References:
    Generative Adversarial Nets, I. Goodfellow et al., 2014, Algorithm 1.
    https://arxiv.org/abs/1406.2661
    Wasserstein GAN, M. Arjovsky, S. Chintala, L. Bottou, 2017, Algorithm 1.
    https://arxiv.org/abs/1701.07875
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pyro
import pyro.poutine as poutine
import torch
from torch import nn

from pyrogen.models.protocols import ModelGuidePair, implements
from pyrogen.objectives.gan_loss import GANLoss
from pyrogen.objectives.gan_tricks import HistoricalAverage, unrolled_critic
from pyrogen.validation import check_dtype, check_finite, check_shape, parameter_dtype

OptimArg = torch.optim.Optimizer | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def default_optimizer(kind: str, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer each paper used: RMSProp(5e-5) for WGAN (Arjovsky et al., Alg. 1),
    Adam(1e-4, betas=(0, 0.9)) for WGAN-GP (Gulrajani et al., Alg. 1), Adam(2e-4,
    betas=(0.5, 0.999)) otherwise (Radford et al., Sec. 4)."""
    params = [p for p in params if p.requires_grad]
    if kind == "wasserstein":
        return torch.optim.RMSprop(params, lr=5e-5)
    if kind == "wgan-gp":
        return torch.optim.Adam(params, lr=1e-4, betas=(0.0, 0.9))
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


class GANPair(nn.Module):
    """Holds both players, so that ``fit`` moves and checkpoints them together.

    ``model``/``guide``/``sample`` delegate to the generator (the generative model).
    """

    # Duck-typed players (a Pyro model with x_shape/sample, a critic with optional extras).
    generator: Any
    discriminator: Any

    def __init__(self, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator

    def check_x(self, x: torch.Tensor) -> None:
        check_shape(x, self.generator.x_shape)
        check_dtype(x, parameter_dtype(self))
        check_finite(x)

    def model(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.generator.model(*args, **kwargs)

    def guide(self, *args: Any, **kwargs: Any) -> None:
        return None

    @torch.no_grad()
    def sample(self, num_samples: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """``(num_samples, *x_shape)`` from the generator (given z, already deterministic)."""
        return self.generator.sample(num_samples, y=y)


class AdversarialSVI:
    r"""Stepper for adversarial games: ``min_G max_D`` of a :class:`GANLoss`.

    Args:
        generator: a Pyro model with a deterministic ``"x"`` site and ``model(num_samples=,
            y=)`` (e.g. :class:`~pyrogen.models.Generator`).
        discriminator: the critic, ``D(x[, y]) -> (B,)``; ``features(x)`` for feature
            matching, ``mi_lower_bound(x, codes)`` for InfoGAN.
        loss: a :class:`GANLoss` or its kind, e.g. ``"wgan-gp"``.
        optim_g, optim_d: torch optimizers, or factories ``params -> optimizer``; ``None``
            picks :func:`default_optimizer` for the loss. Factories are called lazily, after
            ``fit`` moved the module to its device.
        n_critic: critic updates per generator update (5 in the WGAN papers).
        info_weight: lambda of InfoGAN's ``-lambda L_I`` term (Chen et al. 2016, eq. (6)).

    ``step(x)`` returns 0-dim tensors: ``"loss"`` is the critic's value, the estimate of the
    divergence that the generator minimizes (``2 JS - log 4`` for minimax and non-saturating,
    W1 for the Wasserstein losses, the lower bound on D_f for f-GAN); ``"loss_d"`` and
    ``"loss_g"`` are the two players' losses, plus ``"mi"`` for InfoGAN.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss | str = "nonsaturating",
        optim_g: OptimArg | None = None,
        optim_d: OptimArg | None = None,
        n_critic: int = 1,
        info_weight: float = 1.0,
    ):
        if not implements(generator, ModelGuidePair):
            raise TypeError(
                f"the generator needs model() and guide() methods (a guide that samples "
                f"nothing); got {type(generator)}"
            )
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        self.loss = GANLoss(loss) if isinstance(loss, str) else loss
        if self.loss.feature_matching and not callable(getattr(discriminator, "features", None)):
            raise TypeError("feature matching needs a critic with a features(x) method")
        if self.loss.feature_matching and self.loss.unrolled_steps:
            raise ValueError("choose feature matching or an unrolled critic, not both")
        self._pair = GANPair(generator, discriminator)
        self.module: nn.Module = self._pair
        self.n_critic = int(n_critic)
        self.info_weight = float(info_weight)
        self._optim_args = {"g": optim_g, "d": optim_d}
        self._optims: dict[str, torch.optim.Optimizer] = {}
        self._critic_steps = 0
        self._hist = {"g": HistoricalAverage(generator), "d": HistoricalAverage(discriminator)}

    @property
    def generator(self) -> Any:
        return self._pair.generator

    @property
    def discriminator(self) -> Any:
        return self._pair.discriminator

    def _optim(self, who: str) -> torch.optim.Optimizer:
        if who not in self._optims:
            net = self.generator if who == "g" else self.discriminator
            arg = self._optim_args[who]
            if arg is None:
                self._optims[who] = default_optimizer(self.loss.kind, net.parameters())
            elif isinstance(arg, torch.optim.Optimizer):
                self._optims[who] = arg
            else:
                self._optims[who] = arg(net.parameters())
        return self._optims[who]

    @property
    def optim_g(self) -> torch.optim.Optimizer:
        return self._optim("g")

    @property
    def optim_d(self) -> torch.optim.Optimizer:
        return self._optim("d")

    # -- one game round ---------------------------------------------------------------------
    def _generate(self, batch: int, y: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        trace = poutine.trace(self.generator.model).get_trace(num_samples=batch, y=y)
        codes = {n: trace.nodes[n]["value"] for n in getattr(self.generator, "code_sites", ())}
        fake: torch.Tensor = trace.nodes["x"]["value"]
        return fake, codes

    def _critic(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.discriminator(x) if y is None else self.discriminator(x, y)

    def _has_info(self) -> bool:
        return callable(getattr(self.discriminator, "mi_lower_bound", None))

    def _critic_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        loss = self.loss
        with torch.no_grad():
            fake, codes = self._generate(x.shape[0], y)
        real_in, fake_in = loss.perturb(x), loss.perturb(fake)
        v_real, v_fake = self._critic(real_in, y), self._critic(fake_in, y)
        loss_d = loss.discriminator_loss(v_real, v_fake)
        total = loss_d
        if loss.gp:
            total = total + loss.gradient_penalty(lambda t: self._critic(t, y), real_in, fake_in)
        out = {}
        if self._has_info():
            mi = self.discriminator.mi_lower_bound(fake, codes).mean()
            total = total - self.info_weight * mi
            out["mi"] = mi.detach()
        if loss.historical_averaging:
            total = total + loss.historical_averaging * self._hist["d"].penalty()
        self.optim_d.zero_grad(set_to_none=True)
        total.backward()
        self.optim_d.step()
        loss.clip_(self.discriminator)
        if loss.historical_averaging:
            self._hist["d"].update()
        out["loss"] = loss.value(v_real.detach(), v_fake.detach())
        out["loss_d"] = loss_d.detach()
        out["_loss_g"] = loss.generator_loss(v_fake.detach())
        return out

    def _generator_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        loss = self.loss
        fake, codes = self._generate(x.shape[0], y)
        fake_in = loss.perturb(fake)
        if loss.feature_matching:
            with torch.no_grad():
                f_real = self.discriminator.features(loss.perturb(x))
            loss_g = loss.feature_matching_loss(f_real, self.discriminator.features(fake_in))
        elif loss.unrolled_steps:
            lr = loss.unrolled_lr or float(self.optim_d.param_groups[0]["lr"])
            critic = unrolled_critic(
                self.discriminator,
                loss.discriminator_loss,
                loss.perturb(x),
                fake_in,
                loss.unrolled_steps,
                lr,
                y,
            )
            loss_g = loss.generator_loss(critic(fake_in))
        else:
            loss_g = loss.generator_loss(self._critic(fake_in, y))
        total = loss_g
        if self._has_info():
            total = total - self.info_weight * self.discriminator.mi_lower_bound(fake, codes).mean()
        if loss.historical_averaging:
            total = total + loss.historical_averaging * self._hist["g"].penalty()
        self.optim_g.zero_grad(set_to_none=True)
        total.backward()
        self.optim_g.step()
        if loss.historical_averaging:
            self._hist["g"].update()
        return {"loss_g": loss_g.detach()}

    def step(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One critic update and, every ``n_critic`` calls, one generator update.

        Args:
            x: a data batch ``(B, *x_shape)``.
            y: labels ``(B,)`` for conditional models (generated samples get the same labels).
        """
        self.module.train()
        with pyro.settings.context(module_local_params=True):
            out = self._critic_step(x, y)
            self._critic_steps += 1
            loss_g = out.pop("_loss_g")
            if self._critic_steps % self.n_critic == 0:
                loss_g = self._generator_step(x, y)["loss_g"]
        out["loss_g"] = loss_g
        return out

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The critic's value and both losses on a batch, updating nothing (no penalty)."""
        self.module.eval()
        with pyro.settings.context(module_local_params=True):
            fake, codes = self._generate(x.shape[0], y)
            v_real, v_fake = self._critic(x, y), self._critic(fake, y)
            out = {
                "loss": self.loss.value(v_real, v_fake),
                "loss_d": self.loss.discriminator_loss(v_real, v_fake),
                "loss_g": self.loss.generator_loss(v_fake),
            }
            if self._has_info():
                out["mi"] = self.discriminator.mi_lower_bound(fake, codes).mean()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "module": self.module.state_dict(),
            "optim_g": self.optim_g.state_dict(),
            "optim_d": self.optim_d.state_dict(),
            "critic_steps": self._critic_steps,
            "hist_g": self._hist["g"].state_dict(),
            "hist_d": self._hist["d"].state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"module", "optim_g", "optim_d"} - set(state)
        if missing:
            raise ValueError(
                f"not an AdversarialSVI checkpoint: it lacks {sorted(missing)} "
                f"(keys found: {sorted(state)})"
            )
        self.module.load_state_dict(state["module"])
        self.optim_g.load_state_dict(state["optim_g"])
        self.optim_d.load_state_dict(state["optim_d"])
        self._critic_steps = int(state.get("critic_steps", 0))
        for who in ("g", "d"):
            if f"hist_{who}" in state:
                self._hist[who].load_state_dict(state[f"hist_{who}"])
