r"""The base class of pyrogen's models: a :class:`~pyro.nn.PyroModule` for either parameter mode.

Pyro fixes at construction whether a PyroModule can hold module-local parameters, so one
built under Pyro's default global parameter store fails once it runs under
``pyro.settings.context(module_local_params=True)`` (which the command line sets, and the
adversarial and FactorVAE trainers use). A :class:`PyroModel` runs under both; the setting
in force when it runs decides, as for any PyroModule.
"""

from __future__ import annotations

import pyro
from pyro.nn import PyroModule


class PyroModel(PyroModule):
    """A :class:`~pyro.nn.PyroModule` that runs under either ``module_local_params`` setting.

    Args:
        name: optional name of a root module (ignored in sub-modules), as in PyroModule.
    """

    def __init__(self, name: str = "") -> None:
        # PyroModule's call context keeps room for local parameters only when that mode is on
        # while it is built; an empty room costs nothing under the global store.
        with pyro.settings.context(module_local_params=True):
            super().__init__(name)
