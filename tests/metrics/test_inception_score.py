import math

import pytest
import torch

from pyrogen.metrics import inception_score


def test_confident_balanced_classes_give_k():
    k = 5
    x = torch.arange(100) % k  # "samples" are their own class labels
    score = inception_score(x, lambda t: 50.0 * torch.nn.functional.one_hot(t, k).double())
    assert score == pytest.approx(k, rel=1e-6)


def test_uninformative_classifier_gives_one():
    x = torch.randn(64, 3)
    assert inception_score(x, lambda t: torch.zeros(t.shape[0], 7)) == pytest.approx(1.0)


def test_matches_direct_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(30, 4, generator=g, dtype=torch.float64)
    p = logits.softmax(-1)
    marginal = p.mean(0)
    expected = math.exp(float((p * (p / marginal).log()).sum(-1).mean()))
    idx = torch.arange(30)
    assert inception_score(idx, lambda t: logits[t], batch_size=7) == pytest.approx(expected)
