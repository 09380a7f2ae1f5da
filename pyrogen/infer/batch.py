r"""One batch of a model's arguments, positional (``model(x, y)``) or by name
(``model(x=..., y=...)``), every field with the same leading dimension ``B``, and the
model's own check of it. :mod:`pyrogen.infer.batches` makes the sources of batches that
:func:`~pyrogen.infer.fit` feeds a stepper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pyro
import torch

from pyrogen.validation import check_finite

BATCH_KINDS = "a tensor (B, ...), a tuple/list of tensors or a dict of str to tensors"

Metrics = dict[str, torch.Tensor]


def describe_type(value: object) -> str:
    """The full type name of ``value``, with a hint for numpy arrays."""
    hint = " (torch.as_tensor converts it)" if type(value).__module__ == "numpy" else ""
    return f"{type(value).__module__}.{type(value).__qualname__}{hint}"


@dataclass(frozen=True)
class Batch:
    """One batch of a model's arguments: ``fn(*args)`` or ``fn(**kwargs)``.

    Attributes:
        args: positional tensors, each ``(B, ...)``.
        kwargs: tensors by argument name, each ``(B, ...)``.
    """

    args: tuple[torch.Tensor, ...] = ()
    kwargs: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def of(cls, value: object, what: str, expected: str = BATCH_KINDS) -> Batch:
        """A tensor, a tuple/list of tensors or a dict of tensors as a batch; checks that
        every field is a tensor with a non-empty leading dimension shared by all of them.

        Raises:
            TypeError: ``value`` is not one of ``expected`` (``what`` names it).
            ValueError: no field, a 0-dim field, sizes that differ, or no examples.
        """
        if isinstance(value, torch.Tensor):
            batch = cls((value,))
        elif isinstance(value, (tuple, list)):
            batch = cls(tuple(value))
        elif isinstance(value, Mapping):
            if any(not isinstance(k, str) for k in value):
                raise TypeError(f"{what}: a dict of tensors needs str keys (argument names)")
            batch = cls(kwargs=dict(value))
        else:
            raise TypeError(f"{what} must be {expected}; got {describe_type(value)}")
        for name, t in list(enumerate(batch.args)) + list(batch.kwargs.items()):
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"{what} must be {expected}; got a {type(value).__name__} whose field "
                    f"[{name!r}] is a {describe_type(t)}"
                )
        batch._check_sizes(what)
        return batch

    def fields(self, what: str) -> list[tuple[str, torch.Tensor]]:
        """``(name, tensor)`` per field; a lone positional tensor is named ``what`` itself,
        the others ``what[0]``, ``what['y']``, ..."""
        if len(self.args) == 1 and not self.kwargs:
            return [(what, self.args[0])]
        named = [(f"{what}[{i}]", t) for i, t in enumerate(self.args)]
        return named + [(f"{what}[{k!r}]", t) for k, t in self.kwargs.items()]

    def _check_sizes(self, what: str) -> None:
        fields = self.fields(what)
        if not fields:
            raise ValueError(f"{what} holds no tensor: expected {BATCH_KINDS}")
        for name, t in fields:
            if t.dim() == 0:
                raise ValueError(f"{name} needs a leading dimension (one row per example)")
        sizes = {name: t.shape[0] for name, t in fields}
        if len(set(sizes.values())) > 1:
            shown = ", ".join(f"{name}: {n}" for name, n in sizes.items())
            raise ValueError(
                f"every field of {what} needs the same leading dimension (one row per "
                f"example), got {shown}"
            )
        if self.size == 0:
            raise ValueError(f"{what} is empty: it holds 0 examples")

    @property
    def size(self) -> int:
        """``B``, the leading dimension of the first field."""
        first = self.args[0] if self.args else next(iter(self.kwargs.values()))
        return first.shape[0]

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        return Batch(tuple(fn(t) for t in self.args), {k: fn(t) for k, t in self.kwargs.items()})

    def rows(self, index: slice | torch.Tensor) -> Batch:
        """The rows ``index`` (a slice or a tensor of row indices) of every field."""
        return self.map(lambda t: t[index])

    def to(self, device: torch.device, pin: bool = False) -> Batch:
        """On ``device``; ``pin`` first page-locks host tensors so the copy is asynchronous."""

        def move(t: torch.Tensor) -> torch.Tensor:
            if pin and t.device.type == "cpu" and not t.is_pinned():
                t = t.pin_memory()
            return t.to(device, non_blocking=True)

        return self.map(move)

    def call(self, fn: Callable[..., Metrics]) -> Metrics:
        return fn(*self.args, **self.kwargs)


def check_batch(module: torch.nn.Module, batch: Batch, what: str) -> None:
    """The model's own checks on the first field (``module.check_x``: shape, finiteness,
    support of the likelihood) when it has them, else finiteness; finiteness on the others."""
    check_x = getattr(module, "check_x", None)
    with pyro.validation_enabled(True):
        for i, (name, t) in enumerate(batch.fields(what)):
            if i == 0 and callable(check_x):
                check_x(t)
            elif t.is_floating_point() or t.is_complex():
                check_finite(t, name)
