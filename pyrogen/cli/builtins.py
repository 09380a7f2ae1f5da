"""Registers the built-in model families and objectives with :mod:`pyrogen.cli.registry`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pyro.infer import ELBO, Trace_ELBO, TraceEnum_ELBO
from torch import nn

from pyrogen.cli.distillation import build_distillation, distillation_stepper
from pyrogen.cli.options import FAST_PATH_OPTIONS, LOSS_OPTIONS, SVI_OPTIONS
from pyrogen.cli.registry import register_loss, register_model
from pyrogen.infer.adversarial import GANPair
from pyrogen.infer.factor_vae_trainer import FactorVAETrainer
from pyrogen.infer.gan_trainer import build_gan, default_arch, gan_stepper
from pyrogen.infer.stepper import Stepper
from pyrogen.models import (
    MADE,
    VAE,
    AutoregressiveModel,
    FlowDensity,
    GatedPixelCNN,
    Glow,
    HierarchicalVAE,
    LadderVAE,
    PixelCNN,
    PixelCNNpp,
    PixelVAE,
    WaveNet,
)
from pyrogen.models.factor_vae import FactorVAE
from pyrogen.objectives import IWAE_ELBO
from pyrogen.objectives.beta_elbo import BetaELBO
from pyrogen.objectives.distillation import DistillationPair

# The options each built-in model applies (see pyrogen.cli.options): SVI's, the objective's
# (particles, beta: moot without latent variables), and the fast objective's (the built-in
# one-layer VAEs; the hierarchical VAE's has no closed-form KL and no particle chunks).
_SVI = (*SVI_OPTIONS, *LOSS_OPTIONS)
_VAE = (*_SVI, *FAST_PATH_OPTIONS, "z_dim", "hidden", "likelihood", "init_output_bias")
# The recipe that reaches the best known result (benchmarks/vae_recipe.py): the closed-form
# KL and the decoder's output bias at the data marginal.
_VAE_DEFAULTS = {"analytic_kl": True, "init_output_bias": True}
_HVAE = (*_SVI, "compile", "bf16", "z_dim", "hidden", "likelihood")


@register_model(
    "vae",
    description="VAE with an MLP encoder/decoder (Kingma & Welling 2014)",
    options=_VAE,
    defaults=_VAE_DEFAULTS,
)
def _vae(
    x_shape: Sequence[int],
    z_dim: int = 50,
    hidden: Sequence[int] = (200, 200),
    likelihood: str = "bernoulli",
    act: str = "tanh",
    **_: Any,
) -> VAE:
    return VAE(x_shape, z_dim=z_dim, hidden=hidden, likelihood=likelihood, act=act)


@register_model(
    "conv_vae",
    description="VAE with a convolutional encoder/decoder",
    options=_VAE,
    defaults=_VAE_DEFAULTS,
)
def _conv_vae(
    x_shape: Sequence[int],
    z_dim: int = 20,
    hidden: Sequence[int] = (256,),
    likelihood: str = "bernoulli",
    **_: Any,
) -> VAE:
    return VAE(x_shape, z_dim=z_dim, hidden=hidden, likelihood=likelihood, arch="conv", act="relu")


def _flow_vae(flow: str, description: str) -> None:
    def build(
        x_shape: Sequence[int],
        z_dim: int = 20,
        hidden: Sequence[int] = (200, 200),
        flow_length: int = 4,
        **_: Any,
    ) -> VAE:
        return VAE(x_shape, z_dim=z_dim, hidden=hidden, flow=flow, flow_length=flow_length)

    # A flow guide has no closed-form KL and no fast objective; the likelihood is Bernoulli.
    options = (*_SVI, "z_dim", "hidden", "init_output_bias")
    register_model(
        f"{flow}_vae",
        description=description,
        options=options,
        defaults={"init_output_bias": True},
    )(build)


_flow_vae("planar", "VAE with an amortized planar-flow guide (Rezende & Mohamed 2015)")
_flow_vae("iaf", "VAE with an inverse-autoregressive-flow guide (Kingma et al. 2016)")


@register_model(
    "flow_density",
    binarize=None,
    description="MAF density on dequantized pixels, bits/dim (Papamakarios et al. 2017)",
    # Particles average the dequantization noise; no latent variables for --beta to weigh.
    options=(*SVI_OPTIONS, "num_particles", "hidden"),
)
def _flow_density(
    x_shape: Sequence[int],
    flow: str = "maf",
    num_layers: int = 5,
    hidden: Sequence[int] = (256, 256),
    **_: Any,
) -> FlowDensity:
    return FlowDensity(x_shape, flow=flow, num_layers=num_layers, hidden=hidden, dequantize=256)


def _one_width(hidden: Sequence[int], model: str) -> int:
    """The one width of a network that ``--hidden`` sizes by a single number."""
    if len(hidden) != 1:
        raise ValueError(
            f"{model} takes one --hidden width (its networks are convolutional), got {list(hidden)}"
        )
    return int(hidden[0])


@register_model(
    "glow",
    binarize=None,
    description="Glow: multi-scale flow on dequantized pixels, bits/dim (Kingma & Dhariwal 2018)",
    # Particles average the dequantization noise, as for flow_density.
    options=(*SVI_OPTIONS, "num_particles", "hidden"),
)
def _glow(x_shape: Sequence[int], hidden: Sequence[int] = (64,), **_: Any) -> Glow:
    return Glow(x_shape, num_levels=2, num_steps=4, hidden=_one_width(hidden, "glow"))


@register_model(
    "pixel_vae",
    description="PixelVAE: a VAE with a PixelCNN decoder (Gulrajani et al. 2017)",
    options=(*_SVI, "z_dim", "hidden"),
)
def _pixel_vae(
    x_shape: Sequence[int], z_dim: int = 32, hidden: Sequence[int] = (256,), **_: Any
) -> PixelVAE:
    return PixelVAE(x_shape, z_dim=z_dim, hidden=_one_width(hidden, "pixel_vae"))


@register_loss(
    "elbo", "Trace_ELBO: the single-sample reparameterized ELBO", options=("num_particles",)
)
def _elbo(config: dict[str, Any]) -> ELBO:
    return Trace_ELBO(num_particles=int(config.get("num_particles", 1)))


@register_loss(
    "enum_elbo",
    "TraceEnum_ELBO(max_plate_nesting=1): sums out discrete model sites marked "
    'infer={"enumerate": "parallel"} (e.g. a mixture prior\'s component)',
    options=("num_particles",),
)
def _enum_elbo(config: dict[str, Any]) -> ELBO:
    # The command line's models keep their batch in pyro.plate("data") at dim -1, their only
    # plate: enumerated values take the dims to the left of it.
    return TraceEnum_ELBO(num_particles=int(config.get("num_particles", 1)), max_plate_nesting=1)


def _layer_sizes(z_dim: int, num_layers: int) -> tuple[int, ...]:
    # one --z-dim on the command line sets the top layer; lower layers double (100:50)
    return tuple(z_dim * 2 ** (num_layers - 1 - i) for i in range(num_layers))


@register_model(
    "hvae",
    description="hierarchical VAE, z1..zL with a top-down prior (Burda et al. 2016)",
    options=_HVAE,
)
def _hvae(
    x_shape: Sequence[int],
    z_dim: int = 50,
    num_layers: int = 2,
    hidden: Sequence[int] | None = None,
    likelihood: str = "bernoulli",
    act: str = "tanh",
    **_: Any,
) -> HierarchicalVAE:
    return HierarchicalVAE(
        x_shape,
        z_dims=_layer_sizes(z_dim, num_layers),
        hidden=hidden,
        likelihood=likelihood,
        act=act,
    )


@register_model(
    "ladder_vae",
    description="ladder VAE, precision-weighted top-down inference (Sønderby 2016)",
    options=(*_SVI, "z_dim", "hidden", "likelihood"),  # no fast objective
)
def _ladder_vae(
    x_shape: Sequence[int],
    z_dim: int = 50,
    num_layers: int = 2,
    hidden: Sequence[int] | None = None,
    likelihood: str = "bernoulli",
    act: str = "tanh",
    **_: Any,
) -> LadderVAE:
    return LadderVAE(
        x_shape,
        z_dims=_layer_sizes(z_dim, num_layers),
        hidden=hidden,
        likelihood=likelihood,
        act=act,
    )


@register_loss(
    "iwae",
    "IWAE_ELBO: the K-sample importance weighted bound (K = --num-particles)",
    options=("num_particles",),
)
def _iwae(config: dict[str, Any]) -> ELBO:
    return IWAE_ELBO(num_particles=int(config.get("num_particles", 1)), estimator="reparam")


@register_loss(
    "dreg",
    "IWAE_ELBO with doubly reparameterized gradients (K = --num-particles)",
    options=("num_particles",),
)
def _dreg(config: dict[str, Any]) -> ELBO:
    return IWAE_ELBO(num_particles=int(config.get("num_particles", 1)), estimator="dreg")


@register_model(
    "gan",
    binarize=None,
    stepper=gan_stepper,
    description="GAN: MLP for vectors, DCGAN for images; --loss minimax|nonsaturating|"
    "wasserstein|wgan-gp|hinge|ls|f:kl|f:reverse_kl|f:js|f:pearson|f:hellinger (2014-2017)",
    options=("lr", "loss", "binarize", "z_dim", "hidden"),
    # lr None: each loss's paper optimizer (see pyrogen.infer.adversarial.default_optimizer)
    defaults={"loss": "nonsaturating", "lr": None},
)
def _gan(
    x_shape: Sequence[int],
    z_dim: int = 64,
    hidden: Sequence[int] | None = None,
    loss: str = "nonsaturating",
    **_: Any,
) -> GANPair:
    # --hidden: the MLP networks' hidden sizes (default 128 128); the DCGAN networks' one
    # channel width w (default 64) for images (see default_arch).
    if default_arch(x_shape) == "dcgan" and hidden is not None:
        if len(hidden) != 1:
            raise ValueError(
                f"the GAN's DCGAN networks (image data) take one --hidden value, their channel "
                f"width w (maps 2w, w); got {list(hidden)}"
            )
        return build_gan(x_shape, z_dim=z_dim, loss=loss, width=hidden[0])
    return build_gan(x_shape, z_dim=z_dim, hidden=tuple(hidden or (128, 128)), loss=loss)


# Exact densities without latent variables: no particles, no KL for --beta to weigh.
@register_model(
    "made",
    description="MADE autoregressive density (Germain et al. 2015)",
    options=(*SVI_OPTIONS, "hidden"),
)
def _made(x_shape: Sequence[int], hidden: Sequence[int] = (500,), **_: Any) -> AutoregressiveModel:
    return MADE(x_shape, hidden=tuple(hidden))


# Fixed architectures: 5 layers of 32 channels.
@register_model(
    "pixelcnn",
    description="PixelCNN with masks A/B (van den Oord et al. 2016)",
    options=SVI_OPTIONS,
)
def _pixelcnn(x_shape: Sequence[int], **_: Any) -> AutoregressiveModel:
    return PixelCNN(x_shape, channels=32, num_layers=5)


@register_model(
    "gated_pixelcnn",
    description="Gated PixelCNN, no blind spot (van den Oord et al. 2016)",
    options=SVI_OPTIONS,
)
def _gated_pixelcnn(x_shape: Sequence[int], **_: Any) -> AutoregressiveModel:
    return GatedPixelCNN(x_shape, channels=32, num_layers=5)


@register_model(
    "pixelcnnpp",
    binarize=None,
    description="PixelCNN with the discretized logistic mixture of PixelCNN++ (2017)",
    options=SVI_OPTIONS,
)
def _pixelcnnpp(x_shape: Sequence[int], **_: Any) -> AutoregressiveModel:
    return PixelCNNpp(x_shape, num_bins=256, channels=32, num_layers=5)


def _conv_stack(hidden: Sequence[int] | None, channels: int, num_layers: int) -> tuple[int, int]:
    """(channels, layers) of a convolutional stack from ``--hidden``: ``C`` sets the channels
    of every layer; ``C C C`` gives three layers of C channels (all equal: the stacks are
    residual)."""
    if not hidden:
        return channels, num_layers
    if len(set(hidden)) != 1 or hidden[0] < 1:
        raise ValueError(
            f"--hidden of a residual convolutional stack is one channel count C (or C repeated "
            f"once per layer), got {list(hidden)}"
        )
    return hidden[0], num_layers if len(hidden) == 1 else len(hidden)


@register_model(
    "wavenet",
    binarize=None,
    description="Gaussian WaveNet over 1-D signals (B, T), e.g. --dataset signals; the teacher "
    "of distill (van den Oord et al. 2016)",
    # Its likelihood is Gaussian, its data real-valued signals (nothing to --binarize).
    options=(*(o for o in SVI_OPTIONS if o != "binarize"), "hidden"),
)
def _wavenet(x_shape: Sequence[int], hidden: Sequence[int] = (32,) * 8, **_: Any) -> WaveNet:
    if len(x_shape) != 1:
        raise ValueError(
            f"wavenet models 1-D signals (batch, T); the dataset gives examples of shape "
            f"{tuple(x_shape)} (use a 1-D dataset such as --dataset signals)"
        )
    # 8 blocks with dilations 1..128 see 256 past steps: all of a length-128 signal.
    channels, num_layers = _conv_stack(hidden, 32, 8)
    return WaveNet(x_shape[0], channels=channels, num_layers=num_layers, likelihood="gaussian")


@register_loss(
    "beta_elbo",
    "BetaELBO: -E log p(x|z) + beta KL (Higgins et al. 2017; --beta)",
    options=("beta",),
)
def _beta_elbo(config: dict[str, Any]) -> ELBO:
    return BetaELBO(beta=float(config.get("beta", 4.0)))


def _factor_vae_stepper(module: nn.Module, config: dict[str, Any]) -> Stepper:
    assert isinstance(module, FactorVAE)
    trainer = FactorVAETrainer(module, gamma=float(config.get("gamma", 10.0)), lr=config["lr"])
    return cast(Stepper, trainer)  # its module is a FactorVAE: narrower than the protocol's


@register_model(
    "factor_vae",
    stepper=_factor_vae_stepper,
    description="FactorVAE, total-correlation penalty gamma (Kim & Mnih 2018; --gamma)",
    options=("lr", "binarize", "gamma", "z_dim", "hidden"),
    defaults={"loss": None},  # one objective: ELBO + gamma TC
)
def _factor_vae(
    x_shape: Sequence[int], z_dim: int = 10, hidden: Sequence[int] = (256, 256), **_: Any
) -> FactorVAE:
    return FactorVAE(x_shape, z_dim=z_dim, hidden=hidden, act="relu")


@register_model(
    "distill",
    binarize=None,
    stepper=distillation_stepper,
    description="IAF student distilled from an autoregressive teacher run (--teacher RUN_DIR), "
    "KL(p_S || p_T) with closed-form entropy (Parallel WaveNet, 2017)",
    # The dataset only sets how many student samples a step draws: no --binarize.
    options=("lr", "teacher", "hidden"),
    defaults={"loss": None},  # one objective: KL(p_S || p_T)
)
def _distill(
    x_shape: Sequence[int],
    hidden: Sequence[int] = (32,) * 4,
    channels: int | None = None,
    num_layers: int | None = None,
    **options: Any,
) -> DistillationPair:
    # --hidden sizes the student's conditioners (channels, layers), as for wavenet; from
    # Python, channels= and num_layers= may set them directly.
    c, n = _conv_stack(hidden, 32, 4)
    channels, num_layers = channels or c, num_layers or n
    return build_distillation(x_shape, channels=channels, num_layers=num_layers, **options)
