"""fit on every kind of data: tuples and dicts of tensors (conditional models), Datasets and
DataLoaders (streamed), pyrogen.data datasets; and the errors for data it cannot train on."""

import weakref

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
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


W_TRUE, BIAS, SIGMA = torch.tensor([1.5, -2.0, 0.5]), 0.7, 0.3


class LinearGaussian(nn.Module):
    r"""y | x, z ~ N(w.x + b + c z, s^2), z ~ N(0, 1); guide q(z | x, y) = N(a y + u.x + e,
    e^t), a family that holds the exact posterior. Marginally y | x ~ N(w.x + b, c^2 + s^2)."""

    def __init__(self, dim=3):
        super().__init__()
        self.w, self.u = nn.Parameter(torch.zeros(dim)), nn.Parameter(torch.zeros(dim))
        self.b, self.log_s, self.a, self.e, self.t = (
            nn.Parameter(torch.tensor(0.0)) for _ in range(5)
        )
        self.c = nn.Parameter(torch.tensor(0.5))

    def model(self, x, y):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            loc = x @ self.w + self.b + self.c * z
            pyro.sample("y", dist.Normal(loc, self.log_s.exp()), obs=y)

    def guide(self, x, y):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.a * y + x @ self.u + self.e, self.t.exp()))


class ConditionalSVI:
    """Minimizes -ELBO per example of model(x, y) with Adam, the step size decaying 2% a step."""

    def __init__(self, module, lr=0.1):
        self.module = module
        self.optim = torch.optim.Adam(module.parameters(), lr=lr)
        self.schedule = torch.optim.lr_scheduler.ExponentialLR(self.optim, gamma=0.98)
        self.elbo = Trace_ELBO()

    def _loss(self, x, y):
        m = self.module
        return self.elbo.differentiable_loss(m.model, m.guide, x, y) / x.shape[0]

    def step(self, x, y):
        self.optim.zero_grad()
        loss = self._loss(x, y)
        loss.backward()
        self.optim.step()
        self.schedule.step()
        return {"loss": loss.detach()}

    def evaluate(self, x, y):
        with torch.no_grad():
            return {"loss": self._loss(x, y)}

    def state_dict(self):
        return {
            "module": self.module.state_dict(),
            "optim": self.optim.state_dict(),
            "schedule": self.schedule.state_dict(),
        }

    def load_state_dict(self, state):
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
        self.schedule.load_state_dict(state["schedule"])


def _regression(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ W_TRUE + BIAS + SIGMA * torch.randn(n, generator=g)


def test_a_conditional_model_learns_the_regression_weight():
    """fit(stepper, (x, y)) trains model(x, y): w within 5 standard errors (sigma / sqrt(N)
    = 0.0095) of the true weight (at most 3 over 20 seeds); with rows of x and y decoupled,
    w would be 0."""
    n = 1000
    x, y = _regression(n)
    torch.manual_seed(0)
    stepper = ConditionalSVI(LinearGaussian())
    history = fit(stepper, (x, y), epochs=10, batch_size=100, progress=False, device="cpu")
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    err = (stepper.module.w.detach() - W_TRUE).abs().max()
    assert err < 5 * SIGMA / n**0.5, stepper.module.w


class _Pairs(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_a_dataset_trains_exactly_as_the_same_data_in_memory():
    """Same batches and same random draws of the model: the Dataset path leaves the global
    random state to the model, as the in-memory path does."""
    x, y = _regression(120)
    weights = []
    for data in [(x, y), _Pairs(x, y)]:
        pyro.set_rng_seed(0)
        stepper = ConditionalSVI(LinearGaussian())
        fit(stepper, data, epochs=2, batch_size=32, progress=False, seed=2, device="cpu")
        weights.append(_params(stepper.module))
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("kind", ["dataset", "shuffled_dataloader"])
def test_resume_with_streamed_data_is_exact(tmp_path, kind):
    """2 epochs, then a fresh stepper resuming for 2 more, equals 4 epochs straight: the same
    batches and the same random draws of z, hence the same weights bit for bit."""
    x, y = _regression(200)

    def data():
        if kind == "dataset":
            return _Pairs(x, y), 40
        return DataLoader(_Pairs(x, y), batch_size=40, shuffle=True), None

    def run(init_seed, epochs, out):
        torch.manual_seed(init_seed)
        stepper = ConditionalSVI(LinearGaussian())
        stream, bs = data()
        kw = dict(batch_size=bs, out=out, progress=False, seed=3, device="cpu")
        return stepper, fit(stepper, stream, epochs=epochs, **kw)

    straight, full = run(0, 4, tmp_path / "a")
    run(0, 2, tmp_path / "b")
    resumed, history = run(99, 4, tmp_path / "b")  # other initial weights: all restored
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in full]
    a, b = _params(straight.module), _params(resumed.module)
    assert all(torch.equal(a[k], b[k]) for k in a), {k: (a[k], b[k]) for k in a}


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
