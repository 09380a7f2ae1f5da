"""The transform contract (pyrogen.testing) over every exported transform."""

from __future__ import annotations

import pytest
import torch
from pyro.distributions.conditional import ConditionalTransformModule
from torch.distributions import Transform

import pyrogen.transforms as T
from pyrogen.testing import check_conditional_transform, check_transform

# Exported names that are bases, not transforms one can instantiate and check.
ABSTRACT = {"FlowTransform"}


def _perturb(module, scale=0.3):
    """Moves parameters away from their initialization (which may be near the identity)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module


def _actnorm(event_dim):
    def build():
        m = T.ActNorm(2 if event_dim == 3 else 3, event_dim=event_dim)
        m.initialize(torch.randn(8, 2, 3, 3) * 2 + 1 if event_dim == 3 else torch.randn(8, 3) * 3)
        return m

    return build


# name -> (builder, event shape); builders draw their parameters from the global RNG.
CASES = {
    "planar": (lambda: T.Planar(3), (3,)),
    "radial": (lambda: T.Radial(3), (3,)),
    "iaf": (lambda: T.AffineAutoregressive(4, hidden=(8, 8), direction="iaf"), (4,)),
    "maf": (lambda: T.AffineAutoregressive(4, hidden=(8,), direction="maf"), (4,)),
    "maf_reversed": (
        lambda: T.AffineAutoregressive(3, hidden=(6,), direction="maf", order=[3, 2, 1]),
        (3,),
    ),
    "realnvp": (lambda: T.AffineCoupling(5, hidden=(8,), split=2), (5,)),
    "realnvp_swap": (lambda: T.AffineCoupling(4, hidden=(8,), swap=True), (4,)),
    "nice": (lambda: T.AffineCoupling(4, hidden=(8,), mode="additive"), (4,)),
    "actnorm": (_actnorm(1), (3,)),
    "actnorm_image": (_actnorm(3), (2, 3, 3)),
    "conv1x1": (lambda: T.InvertibleConv1x1(3), (3, 2, 2)),
    "permutation": (lambda: T.Permutation(5), (5,)),
    "squeeze": (lambda: T.Squeeze(), (2, 4, 2)),
    "conv_coupling": (lambda: T.ConvAffineCoupling(3, hidden=4), (3, 3, 2)),
    "conv_coupling_swap": (lambda: T.ConvAffineCoupling(4, hidden=4, swap=True), (4, 2, 2)),
    "conv_coupling_additive": (
        lambda: T.ConvAffineCoupling(2, hidden=4, mode="additive"),
        (2, 2, 3),
    ),
    # Images stored flat: (4, 3, 3) is R^36; the downsampling block maps the (4, 4, 4)
    # image to the (16, 2, 2) image, R^64 to R^64.
    "irevnet_block": (lambda: T.IRevNetBlock((4, 3, 3), hidden=5), (36,)),
    "irevnet_block_down": (lambda: T.IRevNetBlock((4, 4, 4), 5, downsample=True), (64,)),
    "irevnet": (lambda: T.IRevNet((1, 4, 4), depths=(1, 1), hidden=4), (16,)),
}

# name -> (builder, event shape, context_dim)
CONDITIONAL_CASES = {
    "conditional_planar": (lambda: T.ConditionalPlanar(3, 4, hidden=(5,)), (3,), 4),
    "conditional_radial": (lambda: T.ConditionalRadial(3, 4), (3,), 4),
    "conditional_iaf": (lambda: T.ConditionalAffineAutoregressive(3, 2, hidden=(6,)), (3,), 2),
    "conditional_maf": (
        lambda: T.ConditionalAffineAutoregressive(4, 2, hidden=(8,), direction="maf"),
        (4,),
        2,
    ),
}


def _seeded(builder, seed=1):
    torch.manual_seed(seed)
    return _perturb(builder())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_transform_contract(name, dtype):
    builder, event = CASES[name]
    t = _seeded(builder).to(dtype)
    x = 1.5 * torch.randn(3, *event, dtype=dtype)
    # Fresh codomain points f(x) + noise, shaped like f(x): Squeeze changes the event shape.
    with torch.no_grad():
        y = t.with_cache(0)(x)
    check_transform(t, x, fresh_y=y + torch.randn_like(y), factory=lambda: builder().to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(CONDITIONAL_CASES))
def test_conditional_transform_contract(name, dtype):
    builder, event, context_dim = CONDITIONAL_CASES[name]
    m = _seeded(builder).to(dtype)
    context = torch.randn(3, context_dim, dtype=dtype)
    x = 1.5 * torch.randn(3, *event, dtype=dtype)
    check_conditional_transform(m, context, x, factory=lambda: builder().to(dtype))


def _exported_transforms():
    names = set()
    for name in T.__all__:
        obj = getattr(T, name)
        is_class = isinstance(obj, type)
        if is_class and issubclass(obj, (Transform, ConditionalTransformModule)):
            names.add(name)
    return names - ABSTRACT


def test_every_exported_transform_is_covered():
    covered = set()
    for builder, _ in CASES.values():
        covered.add(type(builder()).__name__)
    for builder, _, context_dim in CONDITIONAL_CASES.values():
        m = builder()
        covered.add(type(m).__name__)
        covered.add(type(m.condition(torch.zeros(1, context_dim))).__name__)
    missing = _exported_transforms() - covered
    assert not missing, f"exported transforms without a contract case: {sorted(missing)}"
    assert {"Planar", "Radial", "AffineAutoregressive", "AffineCoupling"} <= covered
