import datetime

import pyro
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pyrogen.infer import SVITrainer, fit
from pyrogen.infer.distributed import shard, sharded_log_likelihood, shutdown
from pyrogen.models import VAE

EPOCHS, BATCH = 3, 25  # 100 examples: 4 global batches per epoch, shards of 13 and 12


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(100, 1, 8, 8, generator=g).bernoulli(generator=g)


def _trainer(seed):
    torch.manual_seed(seed)
    return SVITrainer(VAE((1, 8, 8), z_dim=3, hidden=(16,)), lr=1e-2)


def _row_sums(module, x, scale=1.0):
    """A stand-in for log_likelihood with a known per-example answer."""
    return scale * x.flatten(1).sum(1)


# A lost peer fails the test after this long instead of hanging it. The whole two-process
# run took at most about a minute on a 2-core machine at a load average near 10, so a live
# peer, however slowed, stays far from it.
TIMEOUT = datetime.timedelta(minutes=5)


def _worker(rank, world, port, out):
    torch.set_num_threads(1)
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=TIMEOUT)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world, timeout=TIMEOUT)
    try:
        with pyro.settings.context(module_local_params=True):
            # Other initial weights on rank 1: DDP must broadcast rank 0's.
            trainer = _trainer(seed=rank)
            history = fit(
                trainer,
                _data(),
                epochs=EPOCHS,
                batch_size=BATCH,
                progress=False,
                seed=3,
                device="cpu",
                out=out,
            )
        # 7 examples: shards of 4 and 3, gathered in order on every rank.
        ll = sharded_log_likelihood(_row_sums, None, _data()[:7], scale=2.0)
        state = {"params": trainer.module.state_dict(), "history": history, "ll": ll}
        torch.save(state, f"{out}/r{rank}.pt")
    except BaseException:
        dist.destroy_process_group()  # a peer may be gone: no barrier
        raise
    shutdown(trainer)  # the orderly end the CLI uses
    # The group is gone and the trainer steps alone again (its DDP wrapper was released).
    after = trainer.step(_data()[:10])["loss"]
    torch.save({"group": dist.is_initialized(), "loss": after}, f"{out}/after{rank}.pt")


def test_shards_are_balanced_and_cover_the_batch():
    for n, world in [(25, 2), (10, 3), (2, 4)]:
        rows = [shard(n, r, world) for r in range(world)]
        sizes = [s.stop - s.start for s in rows]
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
        assert [s.start for s in rows[1:]] == [s.stop for s in rows[:-1]]
    with pytest.raises(ValueError, match="rank"):
        shard(4, 2, 2)


def test_two_process_ddp_matches_one_process_on_the_global_batch(tmp_path):
    """2-process gloo DDP after 12 steps = one process with the same global batches; the
    sharded IS evaluation gathers every example's value in order."""
    single = _trainer(seed=0)
    expected = fit(single, _data(), epochs=EPOCHS, batch_size=BATCH, progress=False, seed=3)
    # The store lives here, on a port the system assigns as it binds: a port picked free,
    # closed and bound again by a child tens of seconds later (spawn and imports on a busy
    # machine) can be taken by another process in between.
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=TIMEOUT)
    # spawn, not fork: forking a process whose torch thread pools already run can deadlock
    # the children (seen as an occasional hang of the whole suite).
    mp.start_processes(_worker, args=(2, store.port, str(tmp_path)), nprocs=2, start_method="spawn")
    for rank in (0, 1):
        got = torch.load(tmp_path / f"r{rank}.pt", weights_only=True)
        for k, v in single.module.state_dict().items():
            assert torch.allclose(got["params"][k], v, atol=1e-5, rtol=1e-5), (rank, k)
        for a, b in zip(got["history"], expected):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert torch.equal(got["ll"], _row_sums(None, _data()[:7], scale=2.0))
        after = torch.load(tmp_path / f"after{rank}.pt")
        assert not after["group"] and torch.isfinite(after["loss"])
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "metrics.csv").exists()
