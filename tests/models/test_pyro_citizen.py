"""Every built-in model is a Pyro citizen: Pyro's own SVI, Predictive, handlers and
``render_model`` see and train its networks, with no pyrogen code in between.

These tests run in Pyro's default global parameter-store mode (what a new user has), so each
builds its model inside ``pyro.settings.context(module_local_params=False)`` after clearing
the store (the suite's autouse fixture otherwise switches to module-local parameters).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import pyro
import pyro.optim
import pytest
import torch
from pyro import poutine
from pyro.infer import ELBO, SVI, Predictive, Trace_ELBO, TraceEnum_ELBO
from pyro.infer.inspect import get_dependencies, get_model_relations

import pyrogen.models as models
from pyrogen.models import (
    MADE,
    VAE,
    VQVAE,
    VQVAE2,
    FactorVAE,
    FiniteMemoryMLP,
    FlowDensity,
    GatedPixelCNN,
    GaussianMixture,
    Generator,
    Glow,
    HierarchicalVAE,
    InfoGANGenerator,
    InfoVAE,
    LadderVAE,
    LinearGaussianAR,
    LinearGaussianVAE,
    PixelCNN,
    PixelCNNpp,
    PixelVAE,
    RNNDensity,
    TransformerDensity,
    WaveNet,
    WindowedARVAE,
)


def _binary(*shape: int) -> torch.Tensor:
    return (torch.rand(8, *shape) > 0.5).float()


def _normal(*shape: int) -> torch.Tensor:
    return torch.randn(8, *shape)


@dataclass
class Case:
    """A tiny model, data for its likelihood, and the parameters the ELBO cannot move.

    ``unused`` prefixes name parameters that ``model``/``guide`` never read (so Pyro never
    sees them); ``no_gradient`` prefixes name parameters they read but that the ELBO does not
    depend on. Both lists say why, and both are checked to stay unchanged. ``warns`` is a
    warning Pyro rightly gives for the pair (a latent of the model that the guide leaves to
    the prior).
    """

    build: Callable[[], torch.nn.Module]
    data: Callable[[], torch.Tensor]
    unused: dict[str, str] = field(default_factory=dict)
    no_gradient: dict[str, str] = field(default_factory=dict)
    loss: Callable[[], ELBO] = Trace_ELBO
    warns: str | None = None


_NO_DISC = {"discriminator.": "the FactorVAE critic is trained by its own loss, not the ELBO"}
_IMPLICIT = {"net.": "an implicit model: 'x' is deterministic, so the ELBO does not depend on G"}
_PRIOR_ONLY = "Found vars in model but not guide"

CASES: dict[str, Case] = {
    "vae_mlp": Case(lambda: VAE((1, 4, 4), z_dim=2, hidden=(8,)), lambda: _binary(1, 4, 4)),
    "vae_conv": Case(
        lambda: VAE((1, 8, 8), z_dim=2, hidden=(8,), arch="conv"), lambda: _binary(1, 8, 8)
    ),
    "vae_gaussian": Case(
        lambda: VAE((6,), z_dim=2, hidden=(8,), likelihood="gaussian"), lambda: _normal(6)
    ),
    **{
        f"vae_{flow}": Case(
            lambda flow=flow: VAE(
                (6,), z_dim=2, hidden=(8,), flow=flow, flow_length=2, flow_hidden=(16,)
            ),
            lambda: _binary(6),
        )
        for flow in ("planar", "radial", "iaf")
    },
    "hierarchical_vae": Case(
        lambda: HierarchicalVAE((6,), z_dims=(3, 2), hidden=(8,)), lambda: _binary(6)
    ),
    "hierarchical_vae_factorized": Case(
        lambda: HierarchicalVAE((6,), z_dims=(3, 2), hidden=(8,), inference="factorized"),
        lambda: _binary(6),
    ),
    "ladder_vae": Case(lambda: LadderVAE((6,), z_dims=(3, 2), hidden=(8,)), lambda: _binary(6)),
    "linear_gaussian_vae": Case(lambda: LinearGaussianVAE(4, 2), lambda: _normal(4)),
    "windowed_ar_vae": Case(
        lambda: WindowedARVAE(6, z_dim=2, window=2, hidden=(8,)), lambda: _binary(6)
    ),
    "info_vae": Case(lambda: InfoVAE((6,), z_dim=2, hidden=(8,)), lambda: _binary(6)),
    "factor_vae": Case(
        lambda: FactorVAE((6,), z_dim=2, hidden=(8,), disc_hidden=(4,)),
        lambda: _binary(6),
        unused=_NO_DISC,
    ),
    "flow_density_maf": Case(
        lambda: FlowDensity((2,), flow="maf", num_layers=2, hidden=(8,)), lambda: _normal(2)
    ),
    "flow_density_planar": Case(
        lambda: FlowDensity((2,), flow="planar", num_layers=2), lambda: _normal(2)
    ),
    "flow_density_dequantized": Case(
        lambda: FlowDensity((1, 2, 2), flow="realnvp", num_layers=2, hidden=(8,), dequantize=2),
        lambda: _binary(1, 2, 2),
    ),
    "glow": Case(
        lambda: Glow((1, 4, 4), num_levels=2, num_steps=1, hidden=4),
        lambda: torch.randint(0, 256, (8, 1, 4, 4)) / 255.0,
    ),
    "made": Case(lambda: MADE((1, 3, 3), hidden=(8,)), lambda: _binary(1, 3, 3)),
    "pixelcnn": Case(
        lambda: PixelCNN((1, 3, 3), channels=4, num_layers=1, first_kernel=3),
        lambda: _binary(1, 3, 3),
    ),
    "pixel_vae": Case(
        lambda: PixelVAE((1, 4, 4), z_dim=2, hidden=8, channels=4, num_layers=2, cond_channels=2),
        lambda: _binary(1, 4, 4),
    ),
    "gated_pixelcnn": Case(
        lambda: GatedPixelCNN((1, 3, 3), channels=4, num_layers=1), lambda: _binary(1, 3, 3)
    ),
    "pixelcnnpp": Case(
        lambda: PixelCNNpp((1, 3, 3), num_mixtures=2, num_bins=2, channels=4, num_layers=1),
        lambda: _binary(1, 3, 3),
    ),
    "wavenet": Case(
        lambda: WaveNet(6, channels=16, num_layers=2, likelihood="gaussian"),
        lambda: _normal(6),
        no_gradient={
            "res.1.": "the last layer's residual output feeds no later layer (only its skip "
            "output reaches the head, as in WaveNet)"
        },
    ),
    "rnn_density": Case(lambda: RNNDensity((6,), hidden=4), lambda: _binary(6)),
    "transformer_density": Case(
        lambda: TransformerDensity((6,), d_model=8, num_heads=2, num_layers=1),
        lambda: _binary(6),
    ),
    "finite_memory_mlp": Case(
        lambda: FiniteMemoryMLP((6,), memory=2, hidden=(8,)), lambda: _binary(6)
    ),
    "linear_gaussian_ar": Case(lambda: LinearGaussianAR(6, order=2), lambda: _normal(6)),
    "pixelcnn_codes": Case(
        lambda: PixelCNN.for_codes(num_codes=3, shape=(2, 2), channels=16, num_layers=1),
        lambda: torch.randint(3, (8, 1, 2, 2)).float(),
    ),
    "vqvae": Case(
        lambda: VQVAE((1, 4, 4), num_codes=3, code_dim=2, hidden=16),
        lambda: torch.rand(8, 1, 4, 4),
        no_gradient={
            "encoder.": "the guide is a point mass on the nearest codes (no gradient reaches "
            "the encoder; the straight-through stage-1 loss trains it)"
        },
    ),
    "vqvae2": Case(
        lambda: VQVAE2((1, 4, 4), num_codes=3, code_dim=2, hidden=16),
        lambda: torch.rand(8, 1, 4, 4),
        no_gradient={
            prefix: "the guide is a point mass on the nearest top and bottom codes (no "
            "gradient reaches the encoders; the straight-through stage-1 loss trains them)"
            for prefix in ("encoder_", "top_to_bottom.", "pre_quantize_bottom.")
        },
    ),
    "gaussian_mixture": Case(
        lambda: GaussianMixture(2, 2),
        lambda: _normal(2),
        # the assignment is enumerated, as the class documents (Trace_ELBO would sample it)
        loss=lambda: TraceEnum_ELBO(max_plate_nesting=1),
    ),
    "generator": Case(
        lambda: Generator((2,), z_dim=2, hidden=(8,)),
        lambda: _normal(2),
        no_gradient=_IMPLICIT,
        warns=_PRIOR_ONLY,
    ),
    "infogan_generator": Case(
        lambda: InfoGANGenerator((2,), z_dim=2, num_categories=3, num_continuous=1, hidden=(8,)),
        lambda: _normal(2),
        no_gradient=_IMPLICIT,
        warns=_PRIOR_ONLY,
    ),
}


@contextmanager
def global_store() -> Iterator[None]:
    """Pyro's default mode: one global parameter store, emptied first."""
    pyro.clear_param_store()
    try:
        with pyro.settings.context(module_local_params=False):
            yield
    finally:
        pyro.clear_param_store()


def _matches(name: str, prefixes: dict[str, str]) -> bool:
    return any(name.startswith(p) for p in prefixes)


def _model_classes() -> set[type]:
    """Concrete module classes exported by pyrogen.models with ``model`` and ``guide`` methods
    (not the protocols that declare them)."""
    return {
        obj
        for name in models.__all__
        if inspect.isclass(obj := getattr(models, name))
        and issubclass(obj, torch.nn.Module)
        and callable(getattr(obj, "model", None))
        and callable(getattr(obj, "guide", None))
        and not inspect.isabstract(obj)
    }


def test_every_model_family_is_covered():
    with global_store():
        covered = {type(case.build()) for case in CASES.values()}
    missing = sorted(c.__name__ for c in _model_classes() - covered)
    assert not missing, f"add these model classes to CASES: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_pyro_svi_trains_every_parameter(name):
    case = CASES[name]
    with global_store():
        m = case.build()
        x = case.data()
        before = {n: p.detach().clone() for n, p in m.named_parameters()}
        svi = SVI(m.model, m.guide, pyro.optim.Adam({"lr": 1e-2}), case.loss())
        with pytest.warns(UserWarning, match=case.warns) if case.warns else nullcontext():
            for _ in range(3):
                assert torch.isfinite(torch.as_tensor(svi.step(x)))
        stored = {id(p) for _, p in pyro.get_param_store().named_parameters()}
        params = dict(m.named_parameters())

    unregistered = [n for n, p in params.items() if id(p) not in stored]
    assert sorted(unregistered) == sorted(n for n in params if _matches(n, case.unused)), (
        f"parameters Pyro does not see: {unregistered}"
    )
    frozen = {**case.unused, **case.no_gradient}
    moved = {n: bool((before[n] != p.detach()).any()) for n, p in params.items()}
    stuck = [n for n, c in moved.items() if not c and not _matches(n, frozen)]
    assert not stuck, f"parameters SVI did not update: {stuck}"
    # The exemptions are exact: what they list really stays put.
    assert not [n for n, c in moved.items() if c and _matches(n, frozen)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_built_in_global_mode_runs_with_local_params(name):
    """pyrogen's trainers run models under module_local_params=True (the autouse fixture's
    setting here), whatever mode built them; the networks then appear as param sites that
    carry the module's own tensors."""
    case = CASES[name]
    with global_store():
        m = case.build()
    x = case.data()
    guide_tr = poutine.trace(m.guide).get_trace(x)
    model_tr = poutine.trace(poutine.replay(m.model, trace=guide_tr)).get_trace(x)
    seen = {
        id(site["value"])
        for tr in (guide_tr, model_tr)
        for site in tr.nodes.values()
        if site["type"] == "param"
    }
    params = dict(m.named_parameters())
    assert sorted(n for n, p in params.items() if id(p) in seen) == sorted(
        n for n in params if not _matches(n, case.unused)
    )


def _vae() -> VAE:
    return VAE((6,), z_dim=2, hidden=(8,))


def test_predictive_returns_latent_and_observed_sites():
    with global_store():
        vae = _vae()
        x = _binary(6)
        samples = Predictive(vae.model, guide=vae.guide, num_samples=3)(x)
    assert samples["z"].shape == (3, 8, 2)
    assert samples["x"].shape == (3, 8, 6)


def test_guide_trace_has_param_sites_for_every_network():
    with global_store():
        vae = _vae()
        tr = poutine.trace(vae.guide).get_trace(_binary(6))
        names = {n for n, s in tr.nodes.items() if s["type"] == "param"}
        assert {n.split("$$$")[0] for n in names} == {"encoder_net", "loc_head", "scale_head"}
        seen = {id(tr.nodes[n]["value"]) for n in names}
        for n, p in vae.named_parameters():
            if not n.startswith("decoder_net."):
                assert id(p) in seen, n


def test_get_dependencies_on_vae():
    with global_store():
        vae = _vae()
        deps = get_dependencies(vae.model, (_binary(6),))
    assert deps["prior_dependencies"]["x"] == {"x": set(), "z": set()}
    assert deps["posterior_dependencies"]["z"] == {"z": set(), "x": set()}


def test_render_model_and_model_relations():
    import graphviz  # in the test extra; pyro.render_model needs it too

    with global_store():
        vae = _vae()
        x = _binary(6)
        graph = pyro.render_model(vae.model, model_args=(x,), render_params=True)
        relations = get_model_relations(vae.model, model_args=(x,))
    assert isinstance(graph, graphviz.Digraph)
    assert "z -> x" in graph.source
    # The networks' parameters are model parameters. (render_model draws a parameter only
    # where a site's distribution is computed from the value pyro.param returns, which a
    # network reading its own weights never is.)
    assert "decoder_net" in {n.split("$$$")[0] for n in relations["param_constraint"]}
