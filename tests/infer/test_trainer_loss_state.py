import torch

from pyrogen.infer import SVITrainer
from pyrogen.models import VAE
from pyrogen.objectives import BetaELBO, LinearWarmup


def _x():
    g = torch.Generator().manual_seed(0)
    return torch.rand(8, 1, 4, 4, generator=g).bernoulli(generator=g)


def test_surrogates_are_not_reported_as_an_elbo():
    x = _x()
    assert "elbo" in SVITrainer(VAE((1, 4, 4), z_dim=2, hidden=(8,))).step(x)
    assert "elbo" in SVITrainer(VAE((1, 4, 4), z_dim=2, hidden=(8,)), BetaELBO(1.0)).step(x)
    for loss in (BetaELBO(4.0), BetaELBO(1.0, capacity=5.0), BetaELBO(LinearWarmup(10))):
        out = SVITrainer(VAE((1, 4, 4), z_dim=2, hidden=(8,)), loss).step(x)
        assert set(out) == {"loss"}, type(loss).__name__


def test_schedule_position_travels_with_the_checkpoint():
    x = _x()
    trainer = SVITrainer(VAE((1, 4, 4), z_dim=2, hidden=(8,)), BetaELBO(LinearWarmup(10)))
    for _ in range(3):
        trainer.step(x)
    state = trainer.state_dict()
    assert state["loss"] == {"num_steps": 3}
    resumed = SVITrainer(VAE((1, 4, 4), z_dim=2, hidden=(8,)), BetaELBO(LinearWarmup(10)))
    resumed.load_state_dict(state)
    assert resumed.loss.num_steps == 3
