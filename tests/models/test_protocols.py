"""The model contract as protocols: the built-in families satisfy what they claim, and
``implements`` sees methods wherever Python finds them (a guide that is a submodule)."""

import pytest
import torch
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule

from pyrogen.models import (
    MADE,
    VAE,
    VQVAE,
    Autoencoder,
    Encoder,
    ExactDensity,
    FlowDensity,
    GaussianMixture,
    GenerativeModel,
    Generator,
    HasGuide,
    HierarchicalVAE,
    LinearGaussianVAE,
    ModelGuidePair,
    Reconstructor,
    draws_means,
    implements,
)

# (model, the protocols it satisfies among Encoder/ExactDensity/Reconstructor, draws means)
FAMILIES = {
    "vae": (lambda: VAE((6,), z_dim=2, hidden=(8,)), {Encoder, Reconstructor}, True),
    "hierarchical_vae": (
        lambda: HierarchicalVAE((6,), z_dims=(3, 2), hidden=(8,)),
        {Encoder, Reconstructor},
        True,
    ),
    "linear_gaussian_vae": (lambda: LinearGaussianVAE(4, 2), {Encoder}, False),
    "vq_vae": (
        lambda: VQVAE((1, 8, 8), num_codes=8, code_dim=4, hidden=8),
        {Reconstructor},
        True,
    ),
    "flow_density": (
        lambda: FlowDensity((2,), flow="maf", num_layers=2, hidden=(8,)),
        {ExactDensity},
        False,
    ),
    "made": (lambda: MADE((1, 3, 3), hidden=(8,)), {ExactDensity}, False),
    "generator": (lambda: Generator((2,), 2, (8,)), set(), False),
    "gaussian_mixture": (lambda: GaussianMixture(2, 1), set(), False),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_generative_family_satisfies_the_contract(name):
    build, extra, means = FAMILIES[name]
    m = build()
    assert implements(m, GenerativeModel)
    for protocol in (Encoder, ExactDensity, Reconstructor):
        assert implements(m, protocol) == (protocol in extra), protocol.__name__
    assert draws_means(m) == means
    if means:  # the declared capability works: E[x | z] has the data's shape
        assert m.sample(3, mean=True).shape == m.sample(3).shape


def test_a_deterministic_autoencoder_is_no_generative_model():
    ae = Autoencoder((6,), 2, hidden=(8,))
    assert implements(ae, Encoder) and not implements(ae, HasGuide)
    assert not draws_means(ae)


def test_a_guide_held_as_a_submodule_counts():
    class Regression(PyroModule):
        def model(self, x=None):
            return x

    m = Regression()
    m.guide = AutoNormal(m.model)  # kept in m._modules, outside m.__dict__
    assert "guide" not in vars(m)
    assert implements(m, ModelGuidePair) and not implements(m, GenerativeModel)


def test_a_missing_or_non_callable_method_does_not_count():
    class Half:
        guide = None

        def model(self):
            pass

    assert not implements(Half(), ModelGuidePair)
    with pytest.raises(TypeError, match="expected a protocol of pyrogen.models.protocols"):
        implements(Half(), torch.nn.Module)
