r"""Base class of the autoregressive densities: p(x) = prod_d p(x_{o(d)} | x_{o(<d)}).

An :class:`AutoregressiveModel` is at once

* a PyroModule network: ``m(x)`` returns the raw parameters of every conditional
  p(x_d | x_<d), shaped ``(B, P, *event_shape)``, computed in one parallel pass, with
  d m(x)[..., i] / d x[..., j] = 0 for every position j at or after i in the model's order;
* a Pyro distribution (:class:`~pyro.distributions.TorchDistribution`) with empty batch
  shape, so ``pyro.sample("x", m, obs=x)`` scores data with ``log_prob`` (one pass) and an
  unobserved site draws by sequential generation;
* a model/guide pair: ``model(x)`` observes ``"x"`` under ``pyro.plate("data")`` and the
  guide is empty, so SVI with ``Trace_ELBO`` is maximum likelihood.

Generation consumes noise drawn up front (one block per position), so the naive path (one
full network pass per position) and a subclass's cached incremental path give the same
sample for the same seed.

References:
    The Neural Autoregressive Distribution Estimator, H. Larochelle, I. Murray, 2011,
    eq. (1) (the chain-rule factorization). https://proceedings.mlr.press/v15/larochelle11a.html
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any

import pyro
import torch
from pyro.distributions import TorchDistribution
from pyro.nn import PyroModule, pyro_method
from torch.distributions import constraints

from pyrogen.models.base import PyroModel
from pyrogen.models.likelihoods import AutoregressiveForm
from pyrogen.validation import (
    check_num_samples,
    check_observations,
    check_x_shape,
    parameter_dtype,
)


class _ModuleDistributionMeta(type(PyroModule), type(TorchDistribution)):  # type: ignore[misc]
    """PyroModule's metaclass combined with the ABC metaclass of Pyro distributions, which a
    class deriving from both needs (Python requires one metaclass deriving from both)."""


class AutoregressiveModel(PyroModel, TorchDistribution, metaclass=_ModuleDistributionMeta):
    """Shared machinery of the autoregressive families (see the module docstring).

    Subclasses set ``self.head`` and ``self.x_shape`` (through this ``__init__``), implement
    :meth:`forward`, and may override :meth:`order` and :meth:`_generate_cached`.

    Args:
        x_shape: shape of one observation (the event shape).
        head: the per-position likelihood.
        num_classes: number of class labels for class-conditional models (0: none).
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, x_shape: Sequence[int], head: AutoregressiveForm, num_classes: int = 0):
        PyroModel.__init__(self)
        self.x_shape = check_x_shape(x_shape)
        self.head = head
        self.num_classes = num_classes
        TorchDistribution.__init__(
            self, torch.Size(), torch.Size(self.x_shape), validate_args=False
        )

    # -- what subclasses provide -------------------------------------------------------
    @abc.abstractmethod
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P, *x_shape)`` of every p(x_d | x_<d) from ``x (B, *x_shape)``."""

    def order(self) -> torch.Tensor:
        """Positions (indices into the flattened event) in generation order; raster by default."""
        return torch.arange(self.num_positions)

    def _generate_cached(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no cached generation; use sample(..., cached=False)"
        )

    @property
    def has_cache(self) -> bool:
        """Whether :meth:`_generate_cached` is implemented."""
        return type(self)._generate_cached is not AutoregressiveModel._generate_cached

    # -- distribution -------------------------------------------------------------------
    @property
    def num_positions(self) -> int:
        return math.prod(self.x_shape)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.independent(self.head.support, len(self.x_shape))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Pyro draws at an unobserved sample site by calling the distribution with no
        # arguments (or with ``sample_shape=``); with data, this is the network call m(x).
        if not args and set(kwargs) <= {"sample_shape"}:
            return self.sample(kwargs.get("sample_shape", torch.Size()))
        return super().__call__(*args, **kwargs)

    def check_x(self, x: torch.Tensor) -> None:
        """Shape always; dtype, finiteness and support when Pyro validation is enabled."""
        check_observations(x, self.x_shape, parameter_dtype(self), self.head.check_support)

    def _check_y(self, y: torch.Tensor | None, batch: int) -> None:
        if self.num_classes and y is None:
            raise ValueError(f"{type(self).__name__} is class-conditional: pass labels y")
        if y is not None:
            if not self.num_classes:
                raise ValueError(f"{type(self).__name__} is unconditional; got labels y")
            if y.shape != (batch,):
                raise ValueError(f"y must have shape ({batch},), got {tuple(y.shape)}")
            if bool(((y < 0) | (y >= self.num_classes)).any()):
                raise ValueError(f"labels y must lie in [0, {self.num_classes - 1}]")

    def log_prob(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x) ``(batch...)`` of ``x (batch..., *x_shape)`` in one network pass."""
        self.check_x(x)
        batch = x.shape[: x.dim() - len(self.x_shape)]
        flat = x.reshape(-1, *self.x_shape)
        if y is not None:  # labels (batch...) or condition grids (batch..., h', w')
            y = y.reshape(-1, *y.shape[len(batch) :])
        self._check_y(y, flat.shape[0])
        params = self(flat, y)
        lp = self.head.log_prob(
            params.reshape(flat.shape[0], self.head.params_per_value, -1),
            flat.reshape(flat.shape[0], -1),
        )
        return lp.sum(-1).reshape(batch)

    def sample(
        self,
        sample_shape: int | Sequence[int] = torch.Size(),
        y: torch.Tensor | None = None,
        cached: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draws ``(*sample_shape, *x_shape)`` by sequential generation.

        Args:
            sample_shape: an int ``n`` (the model contract's ``sample(num_samples)``) or a shape.
            y: class labels ``(n,)`` for class-conditional models.
            cached: the incremental path where the family has one, else the naive one
                (one full network pass per position). Both give the same draw for the
                same seed.
            generator: optional random generator for the noise.
        """
        shape = self._sample_shape(sample_shape)
        n = math.prod(shape)
        self._check_y(y, n)
        param = next(self.parameters())
        dev, dtype = param.device, param.dtype
        # Noise is drawn where the generator lives (CPU generators drive GPU models too).
        noise_dev = generator.device if generator is not None else dev
        noise = self.head.draw_noise((n, self.num_positions), noise_dev, generator)
        noise = noise.to(device=dev, dtype=dtype)
        x = torch.zeros(n, *self.x_shape, device=dev, dtype=dtype)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                if cached and self.has_cache:
                    x = self._generate_cached(x, noise, y)
                else:
                    x = self._generate_naive(x, noise, y)
        finally:
            self.train(was_training)
        return x.reshape(*shape, *self.x_shape)

    @staticmethod
    def _sample_shape(sample_shape: int | Sequence[int]) -> tuple[int, ...]:
        """``sample_shape`` as a tuple of positive ints (``()``: one draw)."""
        if not isinstance(sample_shape, Sequence):  # an int n, or a mistake such as 2.5
            return (check_num_samples(sample_shape),)
        return tuple(check_num_samples(s, "every size of sample_shape") for s in sample_shape)

    def _generate_naive(
        self, x: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        n, p = x.shape[0], self.head.params_per_value
        flat = x.view(n, -1)
        for pos in self.order().tolist():
            params = self(x, y).reshape(n, p, -1)[:, :, pos]
            flat[:, pos] = self.head.sample(params, noise[:, pos])
        return x

    def dist(self, y: torch.Tensor | None = None) -> TorchDistribution:
        """This model as a distribution; class-conditional models take labels ``y (B,)``
        and give a distribution with batch shape ``(B,)``."""
        if y is None:
            return self
        from pyrogen.models.conditioned import Conditioned

        return Conditioned(self, y)

    # -- model and guide -----------------------------------------------------------------
    @pyro_method
    def model(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """Observes ``"x"`` under ``pyro.plate("data")``; draws one example when ``x`` is None."""
        if x is not None:
            self.check_x(x)
        batch = x.shape[0] if x is not None else (y.shape[0] if y is not None else 1)
        self._register_params()
        with pyro.plate("data", batch):
            return pyro.sample("x", self.dist(y), obs=x)

    def _register_params(self) -> None:
        # The networks run only when the trace scores "x", after the model has returned, so
        # Pyro would not see them in the trace; reading them here, through PyroModule's
        # attribute access, issues their param statements from inside the model.
        for name, child in self.named_children():
            if any(p.requires_grad for p in child.parameters()):
                getattr(self, name)
        for name, p in self.named_parameters(recurse=False):
            if p.requires_grad:
                getattr(self, name)

    def guide(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> None:
        """Empty: a fully observed model has no latent variables."""
