r"""Finds every parameter a model/guide pair uses, wherever it lives.

A Pyro program's parameters live in three places: a module's own ``nn.Parameter``\ s
(``PyroModule`` attributes, ``PyroParam``, a ``pyro.module``-registered network), Pyro's
global parameter store (``pyro.param("q_loc", ...)`` in a hand-written guide), and
parameters created on the first call (an :mod:`~pyro.infer.autoguide` guide builds its
``locs``/``scales`` when it first sees the model). Pyro's ``SVI`` finds them by recording the
``param`` sites of every step; :class:`ParamSites` does the same with one light handler, so
that a trainer's optimizer sees each parameter the moment it exists.
"""

from __future__ import annotations

from typing import Any

import torch
from pyro.poutine.messenger import Messenger


def unconstrained_leaf(value: Any) -> torch.Tensor | None:
    """The leaf tensor an optimizer updates for a ``param`` site's value: Pyro's constrained
    values carry ``.unconstrained()``; module-local parameters are the leaf itself."""
    get = getattr(value, "unconstrained", None)
    leaf = get() if callable(get) else value
    if isinstance(leaf, torch.Tensor) and leaf.is_leaf and leaf.requires_grad:
        return leaf
    return None


class ParamSites(Messenger):
    """Records the leaf tensor behind every ``param`` site, by Pyro name, in call order.

    Use it around a model/guide call (``with ParamSites() as sites: ...``); ``sites.found``
    keeps ``{name: leaf}`` across calls, ``sites.new`` the ones first seen since the last
    :meth:`take_new`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, torch.Tensor] = {}
        self._ids: set[int] = set()
        self.new: list[tuple[str, torch.Tensor]] = []

    def _pyro_post_param(self, msg: dict[str, Any]) -> None:
        leaf = unconstrained_leaf(msg["value"])
        if leaf is None or id(leaf) in self._ids:
            return
        self._ids.add(id(leaf))
        name = str(msg["name"])
        if name in self.found:  # the same name now points at a new tensor (store reset)
            name = f"{name}#{len(self.found)}"
        self.found[name] = leaf
        self.new.append((name, leaf))

    def take_new(self) -> list[tuple[str, torch.Tensor]]:
        new, self.new = self.new, []
        return new
