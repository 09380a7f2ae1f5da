r"""Generated samples follow the model's own law exp(log_prob), checked by total variation.

Each family is first fitted (exact cross-entropy over all 512 binary 3x3 images) to a mixture
of three asymmetric prototypes with 10% bit flips, so its law is far from uniform, far from
the product of its marginals, and not symmetric under reversing the positions: a sampler that
drew uniform bits, drew each position from its marginal, or ran the positions in the wrong
order would produce another law.

The threshold is derived, not tuned. For n draws with empirical frequencies f of a law q,
E[TV(f, q)] <= 1/2 sum_i sqrt(q_i (1 - q_i) / n) (Jensen), and TV(f, q) moves by at most 1/n
when one draw changes, so P(TV(f, q) > E + t) <= exp(-2 n t^2) (McDiarmid). With
t = sqrt(log(1/delta) / (2n)) and delta = 1e-6, the correct sampler exceeds
``limit = bound(p) + t`` with probability at most 1e-6; a wrong sampler with law q stays under
it with probability at most 1e-6 whenever TV(q, p) > limit + bound(q) + t (triangle
inequality), which the tests check from the exact laws before sampling.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from ar_factories import all_binary, make

N = 4000
DELTA = 1e-6
SLACK = math.sqrt(math.log(1 / DELTA) / (2 * N))
NAMES = ["pixelcnn", "wavenet", "transformer", "made"]
BITS = 2 ** torch.arange(9)


def _codes(x: torch.Tensor) -> torch.Tensor:
    """Image index sum_j x_j 2^j of each flattened 3x3 binary image ``(n, ...)``."""
    return (x.reshape(x.shape[0], 9) * BITS).sum(1).long()


def _grid() -> torch.Tensor:
    """All 512 binary 9-vectors, row i being the image with index i."""
    grid = all_binary((9,), torch.float32)
    return grid[_codes(grid).argsort()]


def _target() -> torch.Tensor:
    """Mixture of three asymmetric prototypes with independent 10% bit flips ``(512,)``."""
    protos = torch.tensor(
        [[1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0, 1], [1, 0, 1, 1, 0, 0, 1, 1, 1]]
    )
    flips = (_grid()[None] != protos[:, None]).sum(-1)  # (3, 512)
    log_p = flips * math.log(0.1) + (9 - flips) * math.log(0.9)
    return (log_p.logsumexp(0) - math.log(3)).exp()


@functools.cache
def _fitted(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """The named family fitted for 40 Adam steps, and its exact law ``(512,)`` float64."""
    m = make(name)
    grid = _grid().reshape(512, *m.x_shape)
    target = _target()
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        (-(target * m.log_prob(grid)).sum()).backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        p = m.log_prob(grid).exp().double()
    assert abs(float(p.sum()) - 1) < 1e-5
    return m, p


def _bound(q: torch.Tensor) -> float:
    """Upper bound on E[TV(f, q)] for the frequencies f of N draws from q."""
    return 0.5 * float((q * (1 - q) / N).sqrt().sum())


def _tv(a: torch.Tensor, b: torch.Tensor) -> float:
    return 0.5 * float((a - b).abs().sum())


def _tv_to_law(x: torch.Tensor, p: torch.Tensor) -> tuple[float, float]:
    """TV between the empirical law of ``x (N, ...)`` and ``p``, and the derived limit."""
    freq = torch.bincount(_codes(x), minlength=512).double() / x.shape[0]
    return _tv(freq, p), _bound(p) + SLACK


def _marginals(p: torch.Tensor) -> torch.Tensor:
    """P(x_j = 1) under p ``(9,)``."""
    return (p[:, None] * _grid().double()).sum(0)


def _wrong_law(kind: str, p: torch.Tensor) -> torch.Tensor:
    if kind == "uniform_bits":
        return torch.full_like(p, 1 / 512)
    on = _grid().bool()
    marginal = _marginals(p)
    return torch.where(on, marginal, 1 - marginal).prod(1)


def _wrong_sampler(kind: str, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """N draws of 9 bits, each uniform or each from its marginal under p, independently."""
    probs = torch.full((9,), 0.5) if kind == "uniform_bits" else _marginals(p).float()
    return torch.bernoulli(probs.expand(N, 9), generator=generator)


@pytest.mark.parametrize("name", NAMES)
def test_samples_follow_the_model_distribution(name, stat_seed):
    m, p = _fitted(name)
    x = m.sample(N, generator=torch.Generator().manual_seed(stat_seed))
    tv, limit = _tv_to_law(x, p)
    assert tv < limit, f"{name}: TV {tv:.3f} between samples and exp(log_prob), limit {limit:.3f}"


@pytest.mark.parametrize("kind", ["uniform_bits", "independent_marginals"])
@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_sampler_fails_the_check(name, kind, stat_seed):
    _, p = _fitted(name)
    q = _wrong_law(kind, p)
    limit = _bound(p) + SLACK
    # The fitted law is far enough from q that the check has power 1 - 1e-6 against it.
    assert _tv(q, p) > limit + _bound(q) + SLACK, (name, kind, _tv(q, p))
    x = _wrong_sampler(kind, p, torch.Generator().manual_seed(stat_seed))
    tv, limit = _tv_to_law(x, p)
    assert tv > limit, f"{name}: a {kind} sampler passed (TV {tv:.3f} < {limit:.3f})"
