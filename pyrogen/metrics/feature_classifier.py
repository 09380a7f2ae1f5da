r"""A small classifier trained on the dataset: the offline feature network of FID and IS.

Published FID and Inception Scores use Inception-v3 trained on ImageNet, which is neither
available offline nor meaningful for 28x28 digits. pyrogen trains a small convolutional (or
MLP) classifier on the training set once, caches it in a directory, and uses its penultimate
layer as the FID features and its softmax as p(y | x) of the Inception Score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class FeatureClassifier(nn.Module):
    """``(B, *x_shape)`` -> logits ``(B, K)``; ``features`` gives the ``(B, F)`` layer below.

    Args:
        x_shape: input shape; images ``(C, H, W)`` with H, W divisible by 4 get two conv
            layers, anything else an MLP on the flattened input.
        num_classes: K.
        feature_dim: F.
    """

    def __init__(self, x_shape: Sequence[int], num_classes: int = 10, feature_dim: int = 64):
        super().__init__()
        self.x_shape = tuple(int(s) for s in x_shape)
        self.num_classes = int(num_classes)
        if len(self.x_shape) == 3 and self.x_shape[1] % 4 == 0 and self.x_shape[2] % 4 == 0:
            c, h, w = self.x_shape
            self.trunk: nn.Module = nn.Sequential(
                nn.Conv2d(c, 16, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(32 * (h // 4) * (w // 4), feature_dim),
                nn.ReLU(),
            )
        else:
            d = int(torch.Size(self.x_shape).numel())
            self.trunk = nn.Sequential(
                nn.Flatten(), nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, feature_dim), nn.ReLU()
            )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        dev = next(self.parameters()).device
        with torch.no_grad():
            return self.trunk(x.to(dev))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def train_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
) -> FeatureClassifier:
    """Trains a :class:`FeatureClassifier` on images ``x (N, *x_shape)``, labels ``y (N,)``."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y disagree on N: {tuple(x.shape)} vs {tuple(y.shape)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = FeatureClassifier(x.shape[1:], int(y.max()) + 1).to(x.device)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen).to(x.device)
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(clf(x[idx]), y[idx].long())
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf.eval()


@torch.no_grad()
def accuracy(clf: FeatureClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = torch.cat([clf(x[i : i + 1000]).argmax(-1) for i in range(0, x.shape[0], 1000)])
    return float((pred == y.to(pred.device)).float().mean())


def load_or_train_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    cache_dir: str | Path,
    name: str = "dataset",
    **train_kwargs: object,
) -> FeatureClassifier:
    """Loads ``<cache_dir>/classifier_<name>.pt`` if present, else trains and saves it.

    The cache records the input shape and class count; a mismatching cache is retrained
    rather than silently reused. Training accuracy is written next to it as JSON.
    """
    path = Path(cache_dir) / f"classifier_{name}.pt"
    shape, k = tuple(x.shape[1:]), int(y.max()) + 1
    if path.exists():
        state = torch.load(path, map_location=x.device, weights_only=True)
        if tuple(state["x_shape"]) == shape and int(state["num_classes"]) == k:
            clf = FeatureClassifier(shape, k).to(x.device)
            clf.load_state_dict(state["weights"])
            return clf.eval()
    clf = train_classifier(x, y, **train_kwargs)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"x_shape": list(shape), "num_classes": k, "weights": clf.state_dict()}, tmp)
    tmp.replace(path)
    info = {"train_accuracy": accuracy(clf, x[:10000], y[:10000])}
    path.with_suffix(".json").write_text(json.dumps(info))
    return clf
