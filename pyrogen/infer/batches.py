r"""What :func:`~pyrogen.infer.fit` feeds a stepper: sources of batches of the model's arguments.

A :class:`~pyrogen.infer.batch.Batch` holds one batch of a model's arguments.
:func:`batch_source` turns the data given to ``fit`` into one of two sources of batches:

- :class:`InMemoryData`: a tensor ``(N, ...)``, a tuple/list or dict of tensors sharing ``N``,
  or a :mod:`pyrogen.data` dataset (``epoch(generator)`` returns that epoch's tensor). Checked
  as a whole before training, moved to the device at once, its rows shuffled every epoch.
- :class:`StreamedData`: a map-style :class:`~torch.utils.data.Dataset` (batched here, in an
  order drawn from the epoch's generator) or a :class:`~torch.utils.data.DataLoader`
  (iterated as given). Never held as a whole: each batch is collated, moved to the device and
  checked as it arrives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from typing import Any, Protocol, cast

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from pyrogen.infer.batch import Batch, describe_type

DATA_KINDS = (
    "a tensor (N, ...), a tuple/list or a dict of tensors sharing N, a map-style "
    "torch.utils.data.Dataset (with __len__), a torch.utils.data.DataLoader, or a "
    "pyrogen.data dataset (with .epoch(generator))"
)

Check = Callable[["Batch", str], None]


class EpochData(Protocol):
    """A dataset that may change from epoch to epoch (e.g. dynamic binarization)."""

    x: torch.Tensor

    def epoch(self, generator: torch.Generator | None = None) -> torch.Tensor: ...


Data = (
    torch.Tensor
    | Sequence[torch.Tensor]
    | Mapping[str, torch.Tensor]
    | Dataset[Any]
    | DataLoader[Any]
    | EpochData
)


class InMemoryData:
    """Data held as a whole: shuffled per epoch by a permutation drawn from the generator.

    Args:
        data: a tensor ``(N, ...)``, a tuple/list or dict of such tensors, a :class:`Batch`,
            or an :class:`EpochData` (resampled every epoch).
        batch_size: rows per batch; the last batch of an epoch may be smaller.
        what: names the data in error messages.
    """

    streamed = False

    def __init__(self, data: object, batch_size: int, what: str):
        self.batch_size, self.what = batch_size, what
        self._epoch: Callable[[torch.Generator | None], object] | None = None
        self._static: Batch | None = None
        if isinstance(data, Batch):
            self._static = data
        elif not callable(getattr(data, "epoch", None)):
            self._static = Batch.of(data, what, DATA_KINDS)
        else:
            self._epoch = cast(EpochData, data).epoch
        self._len = self._static.size if self._static is not None else _length(data)

    def whole(self, generator: torch.Generator | None) -> Batch:
        """This epoch's data: the tensors as given, or ``data.epoch(generator)``."""
        if self._epoch is None:
            assert self._static is not None
            return self._static
        return Batch.of(self._epoch(generator), self.what, DATA_KINDS)

    def num_batches(self) -> int | None:
        return None if self._len is None else math.ceil(self._len / self.batch_size)

    def num_examples(self) -> int | None:
        return self._len

    def check_ahead(self, generator: torch.Generator | None, check: Check) -> None:
        """Checks the data once, before training (``generator`` as in :meth:`batches`)."""
        check(self.whole(generator), self.what)

    def frozen(self, generator: torch.Generator | None, device: torch.device) -> InMemoryData:
        """This epoch's data on ``device``, the same every epoch (test data)."""
        return InMemoryData(self.whole(generator).to(device), self.batch_size, self.what)

    def batches(
        self,
        generator: torch.Generator | None,
        device: torch.device,
        check: Check,
        where: str,
        skip: int = 0,
        after_skip: Callable[[], None] | None = None,
    ) -> Iterator[Batch]:
        """The epoch's batches; ``generator`` draws the data (:class:`EpochData`), then the
        order of the rows (``None``: in order). ``check`` ran ahead: unused here. ``skip``
        leaves out the first examples of that order (an epoch resumed where it stopped), and
        ``after_skip()`` runs once they are drawn and left out, before the next batch."""
        whole = self.whole(generator).to(device, pin=device.type == "cuda")
        n = whole.size
        perm = None if generator is None else torch.randperm(n, generator=generator).to(device)
        if after_skip is not None:
            after_skip()
        for i in range(skip, n, self.batch_size):
            rows = slice(i, i + self.batch_size) if perm is None else perm[i : i + self.batch_size]
            yield whole.rows(rows)


class _RowBatches:
    """A batch sampler: row indices of a dataset of ``n`` rows, ``batch_size`` at a time, in
    the order of ``randperm(n, generator)`` (the in-memory path's order), or in order; the
    first ``skip`` rows of that order left out."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None, skip: int = 0):
        self.n, self.batch_size, self.generator, self.skip = n, batch_size, generator, skip

    def __len__(self) -> int:
        return math.ceil(max(0, self.n - self.skip) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        if self.generator is None:
            order = torch.arange(self.n)
        else:
            order = torch.randperm(self.n, generator=self.generator)
        for i in range(self.skip, self.n, self.batch_size):
            yield order[i : i + self.batch_size].tolist()


class StreamedData:
    """Data read one batch at a time: a map-style Dataset or a DataLoader.

    Args:
        data: a :class:`~torch.utils.data.Dataset` with ``__len__`` whose items are a tensor,
            a tuple or a dict of tensors (collated by the default ``collate_fn``), or a
            :class:`~torch.utils.data.DataLoader` yielding batches of those kinds.
        batch_size: rows per batch of a Dataset (a DataLoader batches itself).
        role: ``"training"`` or ``"test"``, for error messages.
    """

    streamed = True

    def __init__(self, data: Dataset[Any] | DataLoader[Any], batch_size: int, role: str):
        self.batch_size, self.role, self.what = batch_size, role, f"{role} batch"
        self.loader = data if isinstance(data, DataLoader) else None
        self.dataset = data if not isinstance(data, DataLoader) else None
        self._len = _length(data)
        if self.dataset is not None:
            if self._len is None:
                raise TypeError(
                    f"{role} data: a map-style Dataset needs __len__ for fit to shuffle it; "
                    f"wrap {type(data).__name__} in a DataLoader instead"
                )
            if self._len == 0:
                raise ValueError(f"{role} data is empty: the Dataset holds 0 examples")

    def num_batches(self) -> int | None:
        if self.loader is not None:
            return self._len
        assert self._len is not None
        return math.ceil(self._len / self.batch_size)

    def num_examples(self) -> int | None:
        """The examples of an epoch (``None`` for a DataLoader: only it knows)."""
        return None if self.loader is not None else self._len

    def check_ahead(self, generator: torch.Generator | None, check: Check) -> None:
        """Nothing: streamed batches are checked as they arrive."""

    def frozen(self, generator: torch.Generator | None, device: torch.device) -> StreamedData:
        return self

    def batches(
        self,
        generator: torch.Generator | None,
        device: torch.device,
        check: Check,
        where: str,
        skip: int = 0,
        after_skip: Callable[[], None] | None = None,
    ) -> Iterator[Batch]:
        """The epoch's batches, each moved to ``device`` and checked before it is yielded.

        Args:
            generator: draws the order of a Dataset's rows (``None``: in order); a
                DataLoader keeps its own sampler.
            device: where the batches go (a Dataset's are pinned first for CUDA).
            check: ``check(batch, what)`` raises ``ValueError`` on bad values.
            where: says when, e.g. ``"epoch 3"``, in error messages.
            skip: leave out the first examples (an epoch resumed where it stopped). A
                Dataset's are never read; a DataLoader's batches are read and dropped,
                since only it knows its order.
            after_skip: runs once the examples left out are drawn, before the next batch.

        Raises:
            ValueError: a batch the model rejects, or a DataLoader whose batches do not
                add up to ``skip`` examples.
        """
        loader: DataLoader[Any]
        if self.loader is not None:
            loader = self.loader
        else:
            assert self.dataset is not None and self._len is not None
            loader = DataLoader(
                self.dataset,
                batch_sampler=_RowBatches(self._len, self.batch_size, generator, skip),
                pin_memory=device.type == "cuda",
                # The loader draws a seed for its workers when it starts: from this private
                # generator, not the global one, so the model's random draws are the same as
                # with in-memory data.
                generator=torch.Generator(),
            )
        items = iter(loader)
        count = 0  # batches so far
        if self.loader is None:
            count = math.ceil(skip / self.batch_size)
        else:
            left = skip
            while left > 0:
                item = next(items, None)
                size = 0 if item is None else Batch.of(item, self.what).size
                if not 0 < size <= left:
                    raise ValueError(
                        f"{self.role} data: {where} was stopped after {skip} examples, but its "
                        f"DataLoader's batches now end elsewhere: the data or their batch size "
                        f"changed since; resume with the DataLoader the run was started with"
                    )
                left -= size
                count += 1
        if after_skip is not None:
            after_skip()
        first = count
        for count, item in enumerate(items, first + 1):
            try:
                batch = Batch.of(item, self.what).to(device)
                check(batch, self.what)
            except ValueError as e:
                raise ValueError(f"{where}, batch {count}: {e}") from e
            except TypeError as e:
                raise TypeError(f"{where}, batch {count}: {e}") from e
            yield batch
        if count == 0:
            raise ValueError(
                f"{self.role} data is empty: in {where}, its DataLoader yielded no batch"
            )


def _length(data: object) -> int | None:
    if not isinstance(data, Sized):
        return None
    try:
        return len(data)
    except TypeError:  # a DataLoader over an IterableDataset without __len__
        return None


def batch_source(data: object, batch_size: int, role: str) -> InMemoryData | StreamedData:
    """The source of batches for ``data`` (see the module docstring for the kinds).

    Args:
        data: training or test data given to :func:`~pyrogen.infer.fit`.
        batch_size: rows per batch, unless ``data`` is a DataLoader.
        role: ``"training"`` or ``"test"``, for error messages.

    Raises:
        TypeError: ``data`` is none of the accepted kinds.
        ValueError: empty data, or fields whose leading dimensions differ.
    """
    what = f"{role} data"
    if isinstance(data, (torch.Tensor, tuple, list, Mapping)) or callable(
        getattr(data, "epoch", None)
    ):
        return InMemoryData(data, batch_size, what)
    if isinstance(data, IterableDataset):
        raise TypeError(
            f"{what}: an IterableDataset cannot be shuffled or indexed by fit; pass "
            f"DataLoader(dataset, batch_size=...) instead"
        )
    if isinstance(data, (Dataset, DataLoader)):
        return StreamedData(data, batch_size, role)
    raise TypeError(f"{what} must be {DATA_KINDS}; got {describe_type(data)}")
