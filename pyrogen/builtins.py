"""Registers the built-in model families and objectives with :mod:`pyrogen.registry`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyro.infer import ELBO, Trace_ELBO

from pyrogen.models import VAE
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


@register_loss("elbo", "Trace_ELBO: the single-sample reparameterized ELBO")
def _elbo(config: dict[str, Any]) -> ELBO:
    return Trace_ELBO(num_particles=int(config.get("num_particles", 1)))
