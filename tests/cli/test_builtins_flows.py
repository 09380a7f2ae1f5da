"""The flow models are reachable by name from the CLI registry."""

import torch

from pyrogen.cli.registry import get_model
from pyrogen.models import VAE, FlowDensity


def test_flow_models_build_by_name():
    planar = get_model("planar_vae").build((1, 8, 8), z_dim=3, hidden=[16], flow_length=2)
    iaf = get_model("iaf_vae").build((1, 8, 8), z_dim=3, hidden=[16])
    assert isinstance(planar, VAE) and planar.flow == "planar" and len(planar.flows) == 2
    assert isinstance(iaf, VAE) and iaf.flow == "iaf"
    density = get_model("flow_density").build((1, 4, 4), num_layers=2, hidden=[8])
    assert isinstance(density, FlowDensity) and density.dequantize == 256
    assert get_model("flow_density").binarize is None
    assert density.sample(3).shape == (3, 1, 4, 4)
    assert torch.isfinite(density.log_prob(torch.rand(2, 1, 4, 4))).all()
