"""Tukey depth against answers known by hand and an exact planar depth computed independently;
the approximate Tukey median against the sample median (p = 1) and symmetric data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyrogen.objectives.depth import (
    coordinate_median,
    depth_directions,
    halfspace_depth,
    tukey_median,
)


def _exact_planar_depth(y: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Exact Tukey depth of y in 2-D data x, and the directions that attain every count.

    The count #{u'(x_i - y) >= 0} changes only where u is orthogonal to some x_i - y, so its
    minimum over the circle is attained in the middle of an arc between two such angles.
    """
    d = x - y
    moving = np.linalg.norm(d, axis=1) > 0
    phi = np.arctan2(d[moving, 1], d[moving, 0])
    critical = np.sort(np.concatenate([phi + math.pi / 2, phi - math.pi / 2]) % (2 * math.pi))
    nxt = np.append(critical[1:], critical[0] + 2 * math.pi)
    mid = (critical + nxt) / 2
    u = np.stack([np.cos(mid), np.sin(mid)], axis=1)
    counts = [sum(1 for xi in d if xi @ uk >= 0) for uk in u]  # by hand, point by point
    return min(counts) / len(x), u


def test_one_dimensional_depth_counts_the_points_on_each_side():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (40, 1), generator=g).double()  # many ties
    y = torch.tensor([[-1.0], [0.0], [2.0], [2.5], [5.0], [7.0]], dtype=torch.float64)
    expected = [
        min(sum(1 for v in x[:, 0] if v >= t), sum(1 for v in x[:, 0] if v <= t)) / 40
        for t in y[:, 0]
    ]
    assert halfspace_depth(y, x).tolist() == pytest.approx(expected)


def test_depth_in_a_square_with_its_centre():
    """Corners (+-1, +-1) and the centre: every line through the centre leaves 2 corners on
    one side, so its depth is 3/5; a corner is alone in a halfplane (1/5); outside is 0."""
    x = torch.tensor([[1.0, 1], [1, -1], [-1, 1], [-1, -1], [0, 0]])
    y = torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    depth = halfspace_depth(y, x, num_directions=200, generator=g)
    assert depth.tolist() == pytest.approx([3 / 5, 1 / 5, 0.0])


def test_depth_matches_the_exact_planar_depth():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(15, 2, generator=g, dtype=torch.float64)
    queries = torch.cat([x[:5], torch.randn(15, 2, generator=g, dtype=torch.float64)])
    gaps = []
    for y in queries:
        exact, arcs = _exact_planar_depth(y.numpy(), x.numpy())
        # at the directions that attain every count the two computations agree exactly
        at_arcs = halfspace_depth(y[None], x, directions=torch.from_numpy(arcs))
        assert float(at_arcs) == pytest.approx(exact)
        # random directions can only miss halfplanes: never below the exact depth
        approx = float(halfspace_depth(y[None], x, num_directions=2000, generator=g))
        assert approx >= exact - 1e-12
        gaps.append(approx - exact)
    assert sum(g > 0 for g in gaps) <= 2, "2000 directions miss at most a few narrow arcs"


@pytest.mark.parametrize("n", [7, 8])
def test_one_dimensional_tukey_median_is_the_sample_median(n):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 1, generator=g, dtype=torch.float64) * 3 + 1
    assert float(tukey_median(x)) == pytest.approx(float(np.median(x.numpy())), abs=1e-9)


def test_tukey_median_of_centrally_symmetric_data_is_its_centre():
    g = torch.Generator().manual_seed(2)
    centre = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    v = torch.randn(100, 3, generator=g, dtype=torch.float64)
    v[:20] *= 10  # heavy tails on one half of the pairs: the mean is still the centre
    x = torch.cat([centre + v, centre - v])
    assert float((tukey_median(x, generator=g) - centre).norm()) < 0.05


def test_tukey_median_is_deepest_among_the_data_and_the_coordinate_median():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 3, generator=g, dtype=torch.float64)
    x[:60] += 6.0  # a far cluster of 20%
    u = depth_directions(x, 400, generator=g)
    med = tukey_median(x, directions=u)
    depth = float(halfspace_depth(med[None], x, directions=u))
    others = halfspace_depth(torch.cat([x, coordinate_median(x)[None]]), x, directions=u)
    assert depth >= float(others.max())
    # robust: far nearer the bulk's centre (0) than the mean, which the cluster drags
    assert float(med.norm()) < 0.5 * float(x.mean(0).norm())


def test_coordinate_median_is_numpys_median():
    g = torch.Generator().manual_seed(4)
    for n in (9, 10):
        x = torch.randn(n, 4, generator=g, dtype=torch.float64)
        np.testing.assert_allclose(coordinate_median(x).numpy(), np.median(x.numpy(), axis=0))


def test_directions_are_unit_and_reproducible():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    a = depth_directions(x, 31, generator=torch.Generator().manual_seed(5))
    b = depth_directions(x, 31, generator=torch.Generator().manual_seed(5))
    assert a.shape == (31, 4) and torch.equal(a, b)
    assert torch.allclose(a.norm(dim=1), torch.ones(31))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: coordinate_median(torch.zeros(5)), r"shape \(n, p\), got \(5,\)"),
        (lambda: tukey_median(torch.tensor([[float("nan")]])), "finite"),
        (lambda: halfspace_depth(torch.zeros(1, 3), torch.zeros(4, 2)), "must have 2 columns"),
        (
            lambda: halfspace_depth(torch.zeros(1, 2), torch.zeros(4, 2), torch.zeros(3, 3)),
            r"directions must have shape \(K, 2\)",
        ),
        (lambda: depth_directions(torch.zeros(4, 2), 0), "num_directions must be a positive"),
    ],
)
def test_bad_input_says_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
