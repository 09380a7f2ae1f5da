"""The ``pyrogen`` command (``train``, ``eval``, ``sample``, ``list``), its run directories,
the registry of models and objectives it trains, and the built-in recipes.

Register your own models and objectives with :func:`register_model` and
:func:`register_loss` (then ``pyrogen train --import your_module``); load a run directory in
Python with :func:`load_run`.
"""

from pyrogen.cli.command import main
from pyrogen.cli.registry import register_loss, register_model
from pyrogen.cli.runs import TrainConfig, load_run

__all__ = ["TrainConfig", "load_run", "main", "register_loss", "register_model"]
