"""Registers the built-in model families and objectives with :mod:`pyrogen.registry`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pyro.infer import ELBO, Trace_ELBO, TraceEnum_ELBO
from torch import nn

from pyrogen.infer import IWAE_ELBO
from pyrogen.infer.adversarial import GANPair
from pyrogen.infer.beta_elbo import BetaELBO
from pyrogen.infer.distillation import DistillationPair
from pyrogen.infer.distillation_cli import build_distillation, distillation_stepper
from pyrogen.infer.gan_trainer import build_gan, gan_stepper
from pyrogen.infer.trainer import Stepper
from pyrogen.models import (
    MADE,
    VAE,
    AutoregressiveModel,
    FlowDensity,
    GatedPixelCNN,
    HierarchicalVAE,
    LadderVAE,
    PixelCNN,
    PixelCNNpp,
    WaveNet,
)
from pyrogen.models.factor_vae import FactorVAE, FactorVAETrainer
from pyrogen.registry import register_loss, register_model


@register_model("vae", description="VAE with an MLP encoder/decoder (Kingma & Welling 2014)")
def _vae(
    x_shape: Sequence[int],
    z_dim: int = 20,
    hidden: Sequence[int] = (200, 200),
    likelihood: str = "bernoulli",
    act: str = "tanh",
    **_: Any,
) -> VAE:
    return VAE(x_shape, z_dim=z_dim, hidden=hidden, likelihood=likelihood, act=act)


@register_model("conv_vae", description="VAE with a convolutional encoder/decoder")
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

    register_model(f"{flow}_vae", description=description)(build)


_flow_vae("planar", "VAE with an amortized planar-flow guide (Rezende & Mohamed 2015)")
_flow_vae("iaf", "VAE with an inverse-autoregressive-flow guide (Kingma et al. 2016)")


@register_model(
    "flow_density",
    binarize=None,
    description="MAF density on dequantized pixels, bits/dim (Papamakarios et al. 2017)",
)
def _flow_density(
    x_shape: Sequence[int],
    flow: str = "maf",
    num_layers: int = 5,
    hidden: Sequence[int] = (256, 256),
    **_: Any,
) -> FlowDensity:
    return FlowDensity(x_shape, flow=flow, num_layers=num_layers, hidden=hidden, dequantize=256)


@register_loss("elbo", "Trace_ELBO: the single-sample reparameterized ELBO")
def _elbo(config: dict[str, Any]) -> ELBO:
    return Trace_ELBO(num_particles=int(config.get("num_particles", 1)))


@register_loss(
    "enum_elbo",
    "TraceEnum_ELBO(max_plate_nesting=1): sums out discrete model sites marked "
    'infer={"enumerate": "parallel"} (e.g. a mixture prior\'s component)',
)
def _enum_elbo(config: dict[str, Any]) -> ELBO:
    # The command line's models keep their batch in pyro.plate("data") at dim -1, their only
    # plate: enumerated values take the dims to the left of it.
    return TraceEnum_ELBO(num_particles=int(config.get("num_particles", 1)), max_plate_nesting=1)


def _layer_sizes(z_dim: int | None, z_dims: Sequence[int]) -> tuple[int, ...]:
    # one --z-dim on the command line sets the top layer; lower layers double (100:50)
    if z_dim is None:
        return tuple(z_dims)
    n = len(z_dims)
    return tuple(z_dim * 2 ** (n - 1 - i) for i in range(n))


@register_model(
    "hvae", description="hierarchical VAE, z1..zL with a top-down prior (Burda et al. 2016)"
)
def _hvae(
    x_shape: Sequence[int],
    z_dim: int | None = None,
    z_dims: Sequence[int] = (100, 50),
    hidden: Sequence[int] | None = None,
    likelihood: str = "bernoulli",
    act: str = "tanh",
    **_: Any,
) -> HierarchicalVAE:
    return HierarchicalVAE(
        x_shape, z_dims=_layer_sizes(z_dim, z_dims), hidden=hidden, likelihood=likelihood, act=act
    )


@register_model(
    "ladder_vae", description="ladder VAE, precision-weighted top-down inference (Sønderby 2016)"
)
def _ladder_vae(
    x_shape: Sequence[int],
    z_dim: int | None = None,
    z_dims: Sequence[int] = (100, 50),
    hidden: Sequence[int] | None = None,
    likelihood: str = "bernoulli",
    act: str = "tanh",
    **_: Any,
) -> LadderVAE:
    return LadderVAE(
        x_shape, z_dims=_layer_sizes(z_dim, z_dims), hidden=hidden, likelihood=likelihood, act=act
    )


@register_loss("iwae", "IWAE_ELBO: the K-sample importance weighted bound (K = --num-particles)")
def _iwae(config: dict[str, Any]) -> ELBO:
    return IWAE_ELBO(num_particles=int(config.get("num_particles", 1)), estimator="reparam")


@register_loss("dreg", "IWAE_ELBO with doubly reparameterized gradients (K = --num-particles)")
def _dreg(config: dict[str, Any]) -> ELBO:
    return IWAE_ELBO(num_particles=int(config.get("num_particles", 1)), estimator="dreg")


@register_model(
    "gan",
    binarize=None,
    stepper=gan_stepper,
    description="GAN: MLP for vectors, DCGAN for images; --loss minimax|nonsaturating|"
    "wasserstein|wgan-gp|hinge|ls|f:kl|f:reverse_kl|f:js|f:pearson|f:hellinger (2014-2017)",
)
def _gan(
    x_shape: Sequence[int],
    z_dim: int = 64,
    hidden: Sequence[int] = (128, 128),
    loss: str = "nonsaturating",
    **_: Any,
) -> GANPair:
    return build_gan(x_shape, z_dim=z_dim, hidden=hidden, loss=loss)


@register_model("made", description="MADE autoregressive density (Germain et al. 2015)")
def _made(
    x_shape: Sequence[int], hidden: Sequence[int] | None = None, **_: Any
) -> AutoregressiveModel:
    return MADE(x_shape, hidden=tuple(hidden or (500,)))


@register_model("pixelcnn", description="PixelCNN with masks A/B (van den Oord et al. 2016)")
def _pixelcnn(x_shape: Sequence[int], **_: Any) -> AutoregressiveModel:
    return PixelCNN(x_shape, channels=32, num_layers=5)


@register_model(
    "gated_pixelcnn", description="Gated PixelCNN, no blind spot (van den Oord et al. 2016)"
)
def _gated_pixelcnn(x_shape: Sequence[int], **_: Any) -> AutoregressiveModel:
    return GatedPixelCNN(x_shape, channels=32, num_layers=5)


@register_model(
    "pixelcnnpp",
    binarize=None,
    description="PixelCNN with the discretized logistic mixture of PixelCNN++ (2017)",
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
)
def _wavenet(
    x_shape: Sequence[int],
    hidden: Sequence[int] | None = None,
    likelihood: str = "gaussian",
    **_: Any,
) -> WaveNet:
    if len(x_shape) != 1:
        raise ValueError(
            f"wavenet models 1-D signals (batch, T); the dataset gives examples of shape "
            f"{tuple(x_shape)} (use a 1-D dataset such as --dataset signals)"
        )
    if likelihood != "gaussian":
        raise ValueError(f"wavenet is trained with --likelihood gaussian, got {likelihood!r}")
    # 8 blocks with dilations 1..128 see 256 past steps: all of a length-128 signal.
    channels, num_layers = _conv_stack(hidden, 32, 8)
    return WaveNet(x_shape[0], channels=channels, num_layers=num_layers, likelihood="gaussian")


@register_loss("beta_elbo", "BetaELBO: -E log p(x|z) + beta KL (Higgins et al. 2017; --beta)")
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
)
def _distill(
    x_shape: Sequence[int],
    hidden: Sequence[int] | None = None,
    channels: int = 32,
    num_layers: int = 4,
    **options: Any,
) -> DistillationPair:
    # --hidden sizes the student's conditioners (channels, layers), as for wavenet.
    channels, num_layers = _conv_stack(hidden, channels, num_layers)
    return build_distillation(x_shape, channels=channels, num_layers=num_layers, **options)
