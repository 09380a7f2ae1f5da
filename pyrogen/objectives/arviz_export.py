r"""Posterior draws as arviz data, on arviz 0.x and 1.x alike.

arviz 1.0 changed both ends of the conversion: ``az.from_dict`` takes one mapping of groups,
``{"posterior": {name: array}}``, instead of a ``posterior=`` keyword, and returns an
``xarray.DataTree`` instead of an ``az.InferenceData``; ``az.from_pyro`` is gone. Both results
hold a ``posterior`` group whose variables have dimensions ``(chain, draw, ...)``, and
``az.summary``, ``az.plot_*`` and xarray selection (``.posterior["mu"].sel(...)``) read either.
:func:`posterior_to_arviz` builds that group from plain draws (a Pyro ``MCMC`` run's
``get_samples(group_by_chain=True)``, a variational family's samples) with whichever arviz is
installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


def _arviz() -> Any:
    try:
        import arviz
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("exporting to arviz needs arviz: pip install arviz") from e
    return arviz


def arviz_major_version() -> int:
    """The installed arviz's major version (0 for the InferenceData API, 1 for DataTree)."""
    return int(_arviz().__version__.split(".")[0])


def posterior_to_arviz(
    posterior: Mapping[str, torch.Tensor | np.ndarray],
    coords: Mapping[str, Sequence[Any]] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
) -> Any:
    """Draws as arviz's ``posterior`` group.

    Args:
        posterior: site name to draws of shape ``(chain, draw, *event)``, as tensors or arrays
            (one chain of independent draws is ``(1, num_draws, *event)``).
        coords: labels of the named event dimensions, e.g. ``{"digit": range(10)}``.
        dims: names of each variable's event dimensions, e.g. ``{"w": ["digit"]}``.

    Returns:
        ``arviz.InferenceData`` with arviz 0.x, ``xarray.DataTree`` with arviz >= 1.0; both
        have ``.posterior[name]`` with dimensions ``(chain, draw, *dims[name])``.
    """
    arrays = {}
    for name, value in posterior.items():
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        array = np.asarray(array)
        if array.ndim < 2:
            raise ValueError(
                f"posterior[{name!r}] must have shape (chain, draw, ...), got "
                f"{array.shape}; give one chain of draws as draws[None]"
            )
        arrays[name] = array
    az = _arviz()
    coords = {k: list(v) for k, v in (coords or {}).items()} or None
    dims = {k: list(v) for k, v in (dims or {}).items()} or None
    if arviz_major_version() >= 1:
        return az.from_dict({"posterior": arrays}, coords=coords, dims=dims)
    return az.from_dict(posterior=arrays, coords=coords, dims=dims)
