"""fit on every kind of data: tuples and dicts of tensors (conditional models), Datasets and
DataLoaders (streamed), pyrogen.data datasets; and the errors for data it cannot train on."""

import weakref

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from pyrogen.data import ImageData
from pyrogen.infer import Stepper, fit


def _rows(n=300):
    """Row i: x = (i, -i), y = 1000 + i, so a batch's fields match iff y == 1000 + x[:, 0]."""
    i = torch.arange(n, dtype=torch.float32)
    return torch.stack([i, -i], 1), 1000 + i


class Recorder:
    """A stepper that learns nothing and records the rows of every batch it receives (as
    Python numbers: it keeps no tensor alive). Its loss is the batch mean of the first field's
    first column, so fit's averaged loss has a known value."""

    def __init__(self, module=None):
        self.module = module if module is not None else nn.Linear(1, 1)
        self.steps, self.evals = [], []

    def _record(self, log, args, kwargs):
        log.append((tuple(a.tolist() for a in args), {k: v.tolist() for k, v in kwargs.items()}))
        first = args[0] if args else next(iter(kwargs.values()))
        return {"loss": first.reshape(first.shape[0], -1)[:, 0].float().mean()}

    def step(self, *args, **kwargs):
        return self._record(self.steps, args, kwargs)

    def evaluate(self, *args, **kwargs):
        return self._record(self.evals, args, kwargs)

    def state_dict(self):
        return {"module": self.module.state_dict()}

    def load_state_dict(self, state):
        self.module.load_state_dict(state["module"])


def _pairs(log):
    """(x row, y) for every row of every recorded positional (x, y) batch."""
    return [(xr, y) for (x, y), _ in log for xr, y in zip(x, y)]


def test_recorder_is_a_stepper():
    assert isinstance(Recorder(), Stepper)


def test_tuple_data_gives_matching_rows_of_every_field():
    x, y = _rows(300)
    rec = Recorder()
    history = fit(rec, (x, y), epochs=2, progress=False, device="cpu")
    # default batch size 128: 128 + 128 + 44 per epoch, positional (x, y)
    assert [len(args[0]) for args, _ in rec.steps] == [128, 128, 44] * 2
    pairs = _pairs(rec.steps)
    assert all(y == 1000 + xr[0] and xr[1] == -xr[0] for xr, y in pairs)
    epoch1, epoch2 = [[xr[0] for xr, _ in pairs[i * 300 : (i + 1) * 300]] for i in (0, 1)]
    assert sorted(epoch1) == sorted(epoch2) == list(range(300))  # every row once per epoch
    assert epoch1 != epoch2 and epoch1 != sorted(epoch1)  # shuffled, anew each epoch
    assert history[0]["train_loss"] == pytest.approx(149.5)  # mean of x[:, 0] over examples


def test_dict_data_gives_keyword_arguments():
    x, y = _rows(50)
    rec = Recorder()
    fit(rec, {"x": x, "y": y}, epochs=1, batch_size=16, progress=False, device="cpu")
    assert all(args == () and set(kw) == {"x", "y"} for args, kw in rec.steps)
    assert all(yy == 1000 + xr[0] for _, kw in rec.steps for xr, yy in zip(kw["x"], kw["y"]))
    assert sum(len(kw["y"]) for _, kw in rec.steps) == 50


class _DictItems(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


@pytest.mark.parametrize("kind", ["tuple_items", "dict_items", "tensor_items"])
def test_dataset_gives_the_batches_of_the_same_data_in_memory(kind):
    """A Dataset is batched in the order the in-memory path draws from (seed, epoch)."""
    x, y = _rows(70)
    dataset, in_memory = {
        "tuple_items": (TensorDataset(x, y), (x, y)),
        "dict_items": (_DictItems(x, y), {"x": x, "y": y}),
        "tensor_items": (TensorDataset(x), x),
    }[kind]
    a, b = Recorder(), Recorder()
    fit(a, in_memory, epochs=2, batch_size=16, progress=False, seed=4, device="cpu")
    fit(b, dataset, epochs=2, batch_size=16, progress=False, seed=4, device="cpu")
    assert len(a.steps) == 10
    if kind == "tensor_items":  # a single tensor: a lone positional argument, as in memory
        b.steps = [((args[0],), kw) for args, kw in b.steps]
    assert b.steps == a.steps


class _CountingDataset(Dataset):
    """Indexable by one int at a time only; counts its items that are alive and the reads."""

    def __init__(self, n, dim=4):
        self.n, self.dim = n, dim
        self.alive = self.max_alive = self.reads = 0

    def __len__(self):
        return self.n

    def _released(self):
        self.alive -= 1

    def __getitem__(self, i):
        if not isinstance(i, int):
            raise TypeError(f"index one example at a time, got {type(i).__name__}")
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.reads += 1
        item = torch.full((self.dim,), float(i))
        self.alive += 1
        self.max_alive = max(self.max_alive, self.alive)
        weakref.finalize(item, self._released)
        return item, torch.tensor(float(i))


def test_dataset_is_streamed_one_batch_at_a_time():
    data = _CountingDataset(2000)
    rec = Recorder()
    fit(rec, data, epochs=2, batch_size=16, progress=False, device="cpu")
    assert data.reads == 2 * 2000  # each example read once per epoch, nothing read ahead
    assert data.max_alive <= 16  # one batch of items at most, never the dataset
    assert len(rec.steps) == 2 * 125
    assert all(y == xr[0] for xr, y in _pairs(rec.steps))


class _Batches(IterableDataset):
    """Streams ``count`` batches (64, 32), batch i filled with i; counts the live ones."""

    def __init__(self, count):
        self.count = count
        self.alive = self.max_alive = 0

    def _released(self):
        self.alive -= 1

    def __iter__(self):
        for i in range(self.count):
            batch = torch.full((64, 32), float(i))
            self.alive += 1
            self.max_alive = max(self.max_alive, self.alive)
            weakref.finalize(batch, self._released)
            yield batch
            del batch


class _StepCounter(Recorder):
    def step(self, *args, **kwargs):  # records nothing: thousands of batches
        self.steps.append(len(args))
        return {"loss": args[0][:, 0].mean()}


def test_dataloader_over_an_iterable_dataset_is_streamed():
    """400 batches stream through, at most a few alive at a time; fit needs no length."""
    stream = _Batches(400)
    rec = _StepCounter()
    history = fit(rec, DataLoader(stream, batch_size=None), epochs=2, progress=False)
    assert rec.steps == [1] * 800
    assert stream.max_alive <= 3  # far below the 400 batches of an epoch
    assert history[-1]["train_loss"] == pytest.approx(199.5)  # mean of 0..399


def test_batch_size_with_a_dataloader_is_refused():
    x, y = _rows(10)
    with pytest.raises(ValueError, match="batch_size=32 was given with a DataLoader"):
        fit(Recorder(), DataLoader(TensorDataset(x, y), batch_size=4), batch_size=32)


class _Empty(IterableDataset):
    def __iter__(self):
        return iter(())


@pytest.mark.parametrize(
    "data",
    [
        torch.zeros(0, 3),
        (torch.zeros(0, 3), torch.zeros(0)),
        {"x": torch.zeros(0, 3)},
        TensorDataset(torch.zeros(0, 3)),
        DataLoader(_Empty(), batch_size=None),
    ],
    ids=["tensor", "tuple", "dict", "dataset", "dataloader"],
)
def test_empty_data_is_refused(data):
    rec = Recorder()
    with pytest.raises(ValueError, match="training data is empty"):
        fit(rec, data, epochs=1, progress=False)
    assert rec.steps == []
    with pytest.raises(ValueError, match="test data is empty"):
        fit(Recorder(), torch.ones(4, 3), test_data=data, epochs=1, progress=False)


def test_mismatched_leading_dimensions_are_refused():
    x, y = torch.zeros(5, 2), torch.zeros(4)
    with pytest.raises(ValueError, match=r"training data\[0\]: 5, training data\[1\]: 4"):
        fit(Recorder(), (x, y), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"training data\['x'\]: 5, training data\['y'\]: 4"):
        fit(Recorder(), {"x": x, "y": y}, epochs=1, progress=False)
    bad = DataLoader([(torch.zeros(3, 2), torch.zeros(3)), (x, y)], batch_size=None)
    rec = Recorder()
    with pytest.raises(ValueError, match=r"epoch 1, batch 2: .*\[0\]: 5, .*\[1\]: 4"):
        fit(rec, bad, epochs=1, progress=False)
    assert len(rec.steps) == 1  # the good first batch trained, the bad one did not


class _PositiveOnly(nn.Linear):
    """A module with its own data check, as models have (``check_x``)."""

    def __init__(self):
        super().__init__(1, 1)

    def check_x(self, x):
        if bool((x < 0).any()):
            raise ValueError("x must be nonnegative")


def test_bad_values_are_caught_before_their_step_and_named():
    x, y = _rows(50)
    y_nan = y.clone()
    y_nan[25] = float("nan")
    rec = Recorder()
    with pytest.raises(ValueError, match=r"training data\[1\] must be finite"):
        fit(rec, (x, y_nan), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"training data\['y'\] must be finite"):
        fit(rec, {"x": x, "y": y_nan}, epochs=1, progress=False)
    assert rec.steps == []  # in memory: checked as a whole, before any step
    loader = DataLoader(TensorDataset(x, y_nan), batch_size=10)
    with pytest.raises(ValueError, match=r"epoch 1, batch 3: training batch\[1\] must be finite"):
        fit(rec, loader, epochs=1, progress=False)
    assert len(rec.steps) == 2  # streamed: checked as it arrives, before its step
    # The module's check_x judges the first field only (x = (i, -i) is negative).
    with pytest.raises(ValueError, match="nonnegative"):
        fit(Recorder(_PositiveOnly()), (x, y), epochs=1, progress=False)
    fit(Recorder(_PositiveOnly()), (y, x), epochs=1, progress=False)


@pytest.mark.parametrize(
    "data",
    [[np.zeros((4, 2)), np.zeros(4)], "digits", 3, _Empty()],
    ids=["numpy_list", "string", "int", "iterable_dataset"],
)
def test_unsupported_data_raise_a_type_error_listing_the_kinds(data):
    kinds = r"tensor .*tuple/list.*dict.*Dataset.*DataLoader.*pyrogen.data"
    match = "DataLoader\\(dataset" if isinstance(data, IterableDataset) else kinds
    with pytest.raises(TypeError, match=match):
        fit(Recorder(), data, epochs=1, progress=False)


@pytest.mark.parametrize("kind", ["tuple", "dict", "dataset", "dataloader"])
def test_test_data_accepts_every_kind(kind):
    x, y = _rows(40)
    xt, yt = x[:25] + 0.5, y[:25] + 0.5
    test_data = {
        "tuple": (xt, yt),
        "dict": {"x": xt, "y": yt},
        "dataset": TensorDataset(xt, yt),
        "dataloader": DataLoader(TensorDataset(xt, yt), batch_size=7),
    }[kind]
    rec = Recorder()
    history = fit(rec, (x, y), test_data=test_data, epochs=2, batch_size=10, progress=False)
    assert history[-1]["test_loss"] == pytest.approx(12.5)  # mean of 0.5, ..., 24.5
    seen = [
        (xr[0], yy)
        for args, kw in rec.evals
        for xr, yy in zip(args[0] if args else kw["x"], args[1] if args else kw["y"])
    ]
    assert seen == [(i + 0.5, 1000 + i + 0.5) for i in range(25)] * 2  # in order, each epoch


def test_resume_with_dynamic_binarization_sees_the_same_batches(tmp_path):
    """A pyrogen.data dataset resampled every epoch: a resumed run draws the same images
    and the same order as the uninterrupted run, in every epoch."""
    grey = torch.rand(30, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    data = ImageData(grey, binarize="dynamic")
    straight, first, resumed = Recorder(), Recorder(), Recorder()
    kw = dict(batch_size=8, progress=False, seed=1, device="cpu")
    fit(straight, data, epochs=3, out=tmp_path / "a", **kw)
    fit(first, data, epochs=1, out=tmp_path / "b", **kw)
    fit(resumed, data, epochs=3, out=tmp_path / "b", **kw)
    assert first.steps + resumed.steps == straight.steps
    binary = [v for args, _ in straight.steps for v in torch.tensor(args[0]).flatten().tolist()]
    assert set(binary) == {0.0, 1.0}
