"""A fork server for tests that start many child processes (``multiprocessing``'s
``forkserver``): it imports torch and pyrogen once, so a child starts in milliseconds, not in
the seconds that importing them takes on a busy machine. The children fork from a process
that has run no torch threads, which forking the test process itself would not guarantee."""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import ForkServerContext

# torch._dynamo: the first torch optimizer imports it, which takes seconds.
PRELOAD = ["torch", "torch._dynamo", "pyrogen.objectives", "pyrogen.models"]


def _nothing() -> None:
    """A child that only makes the server start."""


def forkserver_context(*modules: str) -> ForkServerContext:
    """The fork server's context, started and warm; it also imports ``modules`` (those of
    the children's functions) unless another test started it before."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([*PRELOAD, *modules])
    warm = ctx.Process(target=_nothing)
    warm.start()
    warm.join(300)
    assert warm.exitcode == 0, "the fork server did not start"
    return ctx
