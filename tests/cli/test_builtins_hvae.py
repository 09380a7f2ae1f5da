"""The hierarchical models and IWAE objectives are reachable by name from the CLI registry."""

import torch

from pyrogen.cli.registry import get_loss, get_model
from pyrogen.models import HierarchicalVAE, LadderVAE
from pyrogen.objectives import IWAE_ELBO


def test_models_build_by_name():
    m = get_model("hvae").build((1, 8, 8), z_dim=4, hidden=[16])
    assert isinstance(m, HierarchicalVAE) and m.z_dims == (8, 4)
    lad = get_model("ladder_vae").build((1, 8, 8))
    assert isinstance(lad, LadderVAE) and lad.z_dims == (100, 50)
    assert get_model("hvae").binarize == "dynamic"
    assert m.sample(2).shape == (2, 1, 8, 8) and torch.isfinite(m.sample(2)).all()


def test_losses_build_by_name():
    iwae, dreg = get_loss("iwae", {"num_particles": 5}), get_loss("dreg", {"num_particles": 3})
    assert isinstance(iwae, IWAE_ELBO) and iwae.num_particles == 5
    assert iwae.estimator == "reparam"
    assert isinstance(dreg, IWAE_ELBO) and dreg.estimator == "dreg" and dreg.num_particles == 3
