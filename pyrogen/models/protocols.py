r"""The model contract as :class:`typing.Protocol`\ s.

A generative model is a :class:`~pyro.nn.PyroModule` with ``model(x=None)`` (the generative
process in Pyro syntax), ``guide(x=None)`` (the variational family; one that samples nothing
for a fully observed model) and ``sample(num_samples)``. Latent-variable models with an
encoder also have ``encode(x) -> (loc, scale)``, exact densities ``log_prob(x)``, and
autoencoding models ``reconstruct(x)``. A user's model needs no base class, only the
methods: the protocols type the code that uses a model, and :func:`implements` is the one
runtime test of them that the command line, the metrics and the trainers use.

:func:`implements` looks the methods up as a call would. ``isinstance`` on a
runtime-checkable protocol does not: from Python 3.12 on it looks attributes up statically,
and misses a guide that is a submodule (``self.guide = AutoNormal(self.model)``, which
:class:`torch.nn.Module` keeps outside the instance's ``__dict__``); the protocols are
therefore not runtime-checkable. Neither checks signatures. The one optional parameter that
callers rely on, ``sample(..., mean=True)`` (the mean E[x | z] at fresh z instead of a draw
of x), is a declared capability: :func:`draws_means` reads it from the signature of
``sample``.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, TypeGuard

import torch

__all__ = [
    "Encoder",
    "ExactDensity",
    "GenerativeModel",
    "HasGuide",
    "MeanSampler",
    "ModelGuidePair",
    "Reconstructor",
    "Sampler",
    "draws_means",
    "implements",
]


class HasGuide(Protocol):
    """Has a variational family q: ``guide(*args)`` samples the latent sites."""

    def guide(self, *args: Any, **kwargs: Any) -> Any: ...


class ModelGuidePair(HasGuide, Protocol):
    """A model/guide pair that Pyro's ``SVI`` and every :class:`pyro.infer.ELBO` can train."""

    def model(self, *args: Any, **kwargs: Any) -> Any: ...


class Sampler(Protocol):
    """Draws ``sample(num_samples)`` from the model, shaped like the data."""

    def sample(self, num_samples: int, *args: Any, **kwargs: Any) -> torch.Tensor: ...


class GenerativeModel(ModelGuidePair, Sampler, Protocol):
    """The whole contract of a generative model: ``model``, ``guide`` and ``sample``."""


class Encoder(Protocol):
    """Has an amortized posterior: ``encode(x)`` returns (loc, scale) of q(z | x), or a list
    of them, ``z1`` first, for a hierarchy."""

    def encode(self, x: torch.Tensor) -> Any: ...


class ExactDensity(Protocol):
    """Computes log p(x) exactly (flows, autoregressive models): ``log_prob(x) -> (B,)``."""

    def log_prob(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor: ...


class Reconstructor(Protocol):
    """Maps data through its code and back: ``reconstruct(x)`` is shaped like ``x``."""

    def reconstruct(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor: ...


class MeanSampler(Sampler, Protocol):
    """A sampler that also gives the mean E[x | z] at fresh draws of z (images without the
    likelihood's pixel noise): ``sample(num_samples, mean=True)``."""

    def sample(
        self, num_samples: int, *args: Any, mean: bool = False, **kwargs: Any
    ) -> torch.Tensor: ...


def draws_means(model: object) -> TypeGuard[MeanSampler]:
    """Whether ``model`` is a :class:`MeanSampler`: its ``sample`` declares a ``mean``
    parameter.

    Example:
        >>> from pyrogen.models import VAE, MADE
        >>> draws_means(VAE((4,), z_dim=2)), draws_means(MADE(4, hidden=(8,)))
        (True, False)
    """
    if not implements(model, Sampler):
        return False
    sampler: Any = model
    try:
        parameters = inspect.signature(sampler.sample).parameters
    except (TypeError, ValueError):  # a builtin or C function without a signature
        return False
    return "mean" in parameters


def implements(obj: object, protocol: type) -> bool:
    """Whether ``obj`` has every method of ``protocol`` (one of this module's), each looked up
    as a call would look it up (submodules and ``__getattr__`` included).

    Example:
        >>> from pyro.infer.autoguide import AutoNormal
        >>> from pyrogen.models import VAE
        >>> vae = VAE((4,), z_dim=2)
        >>> implements(vae, GenerativeModel), implements(vae, ExactDensity)
        (True, False)
        >>> class Regression(torch.nn.Module):
        ...     def model(self, x=None): ...
        >>> m = Regression()
        >>> m.guide = AutoNormal(m.model)  # a submodule, not in m.__dict__
        >>> implements(m, ModelGuidePair)
        True
    """
    return all(callable(getattr(obj, name, None)) for name in _methods(protocol))


def _methods(protocol: type) -> set[str]:
    """The public methods that ``protocol`` and the protocols it extends declare."""
    if protocol.__module__ != __name__:
        raise TypeError(f"expected a protocol of {__name__}, got {protocol!r}")
    return {
        name
        for cls in protocol.__mro__
        if cls.__module__ == __name__
        for name, value in vars(cls).items()
        if callable(value) and not name.startswith("_")
    }
