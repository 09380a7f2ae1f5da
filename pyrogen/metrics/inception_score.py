r"""Inception-score analogue with a dataset classifier.

    IS = exp( E_x KL(p(y | x) || p(y)) ),    p(y) = E_x p(y | x),

between 1 (every sample gets the same class distribution) and K (confident, class-balanced
samples). Salimans et al. use Inception-v3; pyrogen uses the classifier of
:mod:`pyrogen.metrics.feature_classifier`, so values are comparable within pyrogen only.

References:
    Improved Techniques for Training GANs, T. Salimans et al., 2016, Sec. 4 (the Inception
    score). https://arxiv.org/abs/1606.03498
"""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def inception_score(
    x: torch.Tensor, classifier: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 1000
) -> float:
    """``exp E KL(p(y|x) || p(y))`` for samples ``x (N, *event)`` and a classifier that maps
    a batch to logits ``(B, K)``."""
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"inception_score needs samples (N, ...), got {tuple(x.shape)}")
    logits = torch.cat([classifier(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    log_p = torch.log_softmax(logits.double(), -1)  # (N, K)
    log_marginal = torch.logsumexp(log_p, 0) - torch.log(torch.tensor(float(len(x))))
    kl = (log_p.exp() * (log_p - log_marginal)).sum(-1)
    return float(kl.mean().exp())
