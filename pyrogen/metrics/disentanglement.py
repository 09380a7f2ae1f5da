r"""The beta-VAE disentanglement metric: accuracy of a linear classifier on z_diff.

For each training point (Higgins et al. 2017, Sec. 3):

1. draw a factor index y ~ U{1..K};
2. draw L pairs of factor vectors (v_l, v'_l) that agree on factor y and are otherwise
   independent, and render x_l = Sim(v_l), x'_l = Sim(v'_l);
3. encode with the posterior means and average z_diff = (1/L) sum_l |mu(x_l) - mu(x'_l)|.

The score is the held-out accuracy of a low-capacity (linear, softmax) classifier
p(y | z_diff). A representation in which factor y lives in its own coordinates makes that
coordinate of z_diff small, so the classifier reads y off it; chance is 1/K.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression


class FactorData(Protocol):
    """Ground-truth factors and a simulator, e.g. :class:`pyrogen.data.Sprites`."""

    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, K)`` long factor indices."""
        ...

    def render(self, factors: torch.Tensor) -> torch.Tensor:
        """Observations for factor indices ``(n, K)``."""
        ...


@torch.no_grad()
def _z_diff(
    encode: Callable[[torch.Tensor], torch.Tensor],
    data: FactorData,
    num_points: int,
    pairs: int,
    gen: torch.Generator,
    device: torch.device | str,
) -> tuple[np.ndarray, np.ndarray]:
    k = len(data.factor_sizes)
    y = torch.randint(k, (num_points,), generator=gen)
    v1 = data.sample_factors(num_points * pairs, gen)
    v2 = data.sample_factors(num_points * pairs, gen)
    rows = torch.arange(num_points * pairs)
    fixed = y.repeat_interleave(pairs)
    v2[rows, fixed] = v1[rows, fixed]
    diffs = []
    for a, b in zip(v1.split(4096), v2.split(4096)):
        za = encode(data.render(a).to(device))
        zb = encode(data.render(b).to(device))
        diffs.append((za - zb).abs().cpu())
    z_diff = torch.cat(diffs).reshape(num_points, pairs, -1).mean(1)  # (N, z_dim)
    return z_diff.double().numpy(), y.numpy()


def beta_vae_score(
    encode: Callable[[torch.Tensor], torch.Tensor],
    data: FactorData,
    num_train: int = 1000,
    num_test: int = 500,
    pairs: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    r"""The beta-VAE metric (Higgins et al. 2017, Sec. 3): linear-classifier accuracy on z_diff.

    Args:
        encode: maps observations ``(n, *x_shape)`` to representations ``(n, z_dim)``,
            usually the posterior mean ``lambda x: vae.encode(x)[0]``.
        data: factor sampler and simulator (``factor_sizes``, ``sample_factors``, ``render``).
        num_train: z_diff points that train the classifier.
        num_test: held-out z_diff points that score it.
        pairs: L, the pairs averaged into one z_diff (the paper: 64).
        seed: seed of the factor draws and the classifier.
        device: where ``encode`` runs.

    Returns:
        ``{"accuracy": held-out accuracy, "train_accuracy": ..., "chance": 1/K}``.

    Example:
        >>> from pyrogen.data import Sprites
        >>> sprites = Sprites(size=16, num_positions=4)
        >>> noise = lambda x: torch.randn(len(x), 5)  # ignores the image
        >>> round(beta_vae_score(noise, sprites, 200, 200, pairs=4)["chance"], 2)
        0.2

    References:
        beta-VAE: Learning basic visual concepts with a constrained variational framework,
        I. Higgins et al., 2017, Sec. 3 and Appendix A.4 (L = 64, linear classifier).
        https://openreview.net/forum?id=Sy2fzU9gl
    """
    if num_train < 2 or num_test < 1 or pairs < 1:
        raise ValueError(
            f"need num_train >= 2, num_test >= 1 and pairs >= 1, got num_train={num_train}, "
            f"num_test={num_test}, pairs={pairs}"
        )
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train = _z_diff(encode, data, num_train, pairs, gen, device)
    x_test, y_test = _z_diff(encode, data, num_test, pairs, gen, device)
    # Standardizing is an affine map, so the classifier stays linear; it only helps the solver.
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    clf = LogisticRegression(max_iter=2000)
    clf.fit((x_train - mean) / std, y_train)
    return {
        "accuracy": float(clf.score((x_test - mean) / std, y_test)),
        "train_accuracy": float(clf.score((x_train - mean) / std, y_train)),
        "chance": 1.0 / len(data.factor_sizes),
    }
