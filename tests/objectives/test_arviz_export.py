"""posterior_to_arviz gives the same posterior group on arviz 0.x and 1.x."""

import arviz as az
import numpy as np
import pytest
import torch

from pyrogen.objectives.arviz_export import arviz_major_version, posterior_to_arviz


def _draws():
    g = torch.Generator().manual_seed(0)
    # (chain, draw, k): 2 chains of 500 draws around the means 0, 10, 20 of three components
    return torch.randn(2, 500, 3, generator=g) + torch.tensor([0.0, 10.0, 20.0])


def test_the_installed_arviz_gets_its_own_container():
    data = posterior_to_arviz({"w": _draws()})
    if arviz_major_version() >= 1:
        import xarray as xr

        assert isinstance(data, xr.DataTree)
    else:
        assert isinstance(data, az.InferenceData)


def test_named_dims_and_coords_select_the_right_draws():
    draws = _draws()
    data = posterior_to_arviz(
        {"w": draws, "s": draws.sum(-1).numpy()},
        coords={"k": ["a", "b", "c"]},
        dims={"w": ["k"]},
    )
    w = data.posterior["w"]
    assert w.dims == ("chain", "draw", "k") and w.shape == (2, 500, 3)
    np.testing.assert_array_equal(w.sel(k="b").values, draws[..., 1].numpy())
    assert data.posterior["s"].dims == ("chain", "draw")
    summary = az.summary(data, var_names=["w"], coords={"k": ["c"]}, kind="stats")
    assert len(summary) == 1
    assert float(summary["mean"].iloc[0]) == pytest.approx(draws[..., 2].mean().item(), abs=0.01)


def test_draws_without_chain_and_draw_dimensions_are_refused():
    with pytest.raises(ValueError, match=r"\(chain, draw, \.\.\.\), got \(10,\)"):
        posterior_to_arviz({"mu": np.zeros(10)})
