import pytest
import torch

from pyrogen.data import Sprites
from pyrogen.metrics import beta_vae_score


class _Identity:
    """Observations are the factor values themselves: a perfectly disentangled simulator."""

    factor_sizes = (3, 6, 10, 16, 16)

    def sample_factors(self, n, generator=None):
        return torch.stack(
            [torch.randint(k, (n,), generator=generator) for k in self.factor_sizes], 1
        )

    def render(self, factors):
        return factors.float()


def test_disentangled_representation_scores_one():
    data = _Identity()
    score = beta_vae_score(lambda v: v / torch.tensor(data.factor_sizes), data, 300, 300, 16)
    assert score["accuracy"] == 1.0


def test_entangled_rotation_scores_below_axis_aligned():
    """A dense rotation of the factors mixes them; the linear probe on |z_diff| suffers."""
    data = _Identity()
    torch.manual_seed(0)
    rot = torch.linalg.qr(torch.randn(5, 5)).Q
    scaled = lambda v: v / torch.tensor(data.factor_sizes)  # noqa: E731
    mixed = beta_vae_score(lambda v: scaled(v) @ rot, data, 300, 300, 16)["accuracy"]
    assert mixed < 0.95


def test_representation_ignoring_the_input_is_at_chance():
    sprites = Sprites(size=16, num_positions=4)
    score = beta_vae_score(lambda x: torch.randn(len(x), 6), sprites, 300, 1000, pairs=4)
    assert score["chance"] == 0.2
    assert abs(score["accuracy"] - 0.2) < 0.06


def test_bad_arguments():
    with pytest.raises(ValueError, match="pairs >= 1"):
        beta_vae_score(lambda x: x, _Identity(), pairs=0)
