r"""Classifier two-sample test: held-out accuracy of a classifier telling x from y.

Label x as 0 and y as 1, train a classifier on half of the pooled (balanced) sample and
report its accuracy on the other half. About 0.5 means the classifier cannot tell the two
samples apart; 1.0 means they are disjoint. Under the null, the accuracy on n_te test points
is approximately N(1/2, 1/(4 n_te)) (Lopez-Paz & Oquab 2017, Sec. 2).

References:
    Revisiting Classifier Two-Sample Tests, D. Lopez-Paz, M. Oquab, 2017, eq. (1)-(2).
    https://arxiv.org/abs/1610.06545
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pyrogen.metrics._checks import as_matrix_pair


def c2st(
    x: torch.Tensor,
    y: torch.Tensor,
    hidden: int = 64,
    steps: int = 500,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> float:
    r"""Accuracy of an MLP classifier (one hidden layer) on a held-out half.

    Inputs are flattened and standardized with the training half's statistics. The two
    samples are truncated to the same size so that chance is exactly 0.5.

    Args:
        x: first sample ``(N, *event)``, N >= 4.
        y: second sample ``(M, *event)``.
        hidden: width of the hidden layer.
        steps: Adam steps on minibatches of the training half.
        batch_size: minibatch size.
        lr: Adam learning rate.
        seed: seeds the split, the initialization and the minibatches (the global RNG is
            left untouched).

    Returns:
        Held-out accuracy in [0, 1].
    """
    x, y = as_matrix_pair(x, y, "c2st", min_rows=4)
    n = min(x.shape[0], y.shape[0])
    dev = x.device
    data = torch.cat([x[:n], y[:n]])
    # Labels and classifier take the data's dtype, whatever the default dtype is.
    labels = torch.cat([torch.zeros(n, dtype=data.dtype), torch.ones(n, dtype=data.dtype)]).to(dev)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(2 * n, generator=gen).to(dev)
    train, test = perm[:n], perm[n:]
    mean, std = data[train].mean(0), data[train].std(0).clamp(min=1e-6)
    data = (data - mean) / std
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(data.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 1))
    net = net.to(dev, data.dtype)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            idx = train[torch.randint(0, n, (min(batch_size, n),), generator=gen).to(dev)]
            loss = F.binary_cross_entropy_with_logits(net(data[idx]).squeeze(-1), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = (net(data[test]).squeeze(-1) > 0).float()
    return float((pred == labels[test]).float().mean())
