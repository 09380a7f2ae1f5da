"""Figures of a run and ``pyrogen sample``: draws of the model as PNG grids or line plots.

A model registered with ``labels=True`` is sampled class by class. Draws show the mean
E[x | z] where the model declares it (:func:`~pyrogen.models.draws_means`), and the model's
reconstructions of test data where it has them (:class:`~pyrogen.models.Reconstructor`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pyrogen import plots
from pyrogen.cli.runs import TrainConfig, load_run
from pyrogen.models.protocols import Reconstructor, Sampler, draws_means, implements


def _takes_labels(fn: Callable[..., Any]) -> bool:
    return "y" in inspect.signature(fn).parameters


def _draw(module: Any, n: int, num_classes: int | None, mean: bool) -> torch.Tensor:
    """``n`` draws of ``module.sample``; for a labelled model, ``n // num_classes`` (at
    least one) per class, class by class."""
    sample = module.sample
    kwargs: dict[str, Any] = {"mean": True} if mean else {}
    if num_classes is None:
        return sample(n, **kwargs)
    per_class = max(1, n // num_classes)
    first = next(iter(module.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    y = torch.arange(num_classes, device=device).repeat_interleave(per_class)
    return sample(y.shape[0], y=y, **kwargs)


def figures(
    module: Any, test: tuple[torch.Tensor, ...], history: list, out: Path, cfg: TrainConfig
) -> list[Path]:
    """The figures of a trained run in ``out``: 64 samples (the mean E[x | z] where the model
    draws means), reconstructions of 16 test examples, and the loss curves of ``history``."""
    written = []
    x_test = test[0]
    labelled = cfg.num_classes is not None
    with torch.no_grad():
        if implements(module, Sampler) and labelled and not _takes_labels(module.sample):
            print(f"no samples.png: {type(module).__name__}.sample() takes no labels y")
        elif implements(module, Sampler):
            images = _draw(module, 64, cfg.num_classes, mean=draws_means(module))
            if images.dim() in (2, 4):  # image grid, or line plots of 1-D signals
                nrow = max(1, 64 // cfg.num_classes) if cfg.num_classes else None
                title = "samples, one row per class" if labelled else "samples"
                path = out / "samples.png"
                if images.dim() == 4:
                    written.append(plots.save_image_grid(images, path, nrow=nrow, title=title))
                else:
                    written.append(plots.save_samples(images, path, title=title))
        if implements(module, Reconstructor) and (
            not labelled or _takes_labels(module.reconstruct)
        ):
            xr = module.reconstruct(*(t[:16] for t in test))
            written.append(plots.save_reconstructions(x_test[:16], xr, out / "reconstructions.png"))
    if history:
        written.append(plots.save_curves(history, out / "loss.png"))
    return written


def cmd_sample(run_dir: str, n: int, out: str | None, device: str, mean: bool) -> Path:
    """``pyrogen sample``: ``n`` draws (or means, ``mean``) of a run's model as a PNG."""
    cfg, stepper = load_run(run_dir, device)
    module: Any = stepper.module
    name = type(module).__name__
    if not implements(module, Sampler):
        raise SystemExit(f"error: this model has no sample(); cannot draw from {run_dir}")
    if mean and not draws_means(module):
        raise SystemExit(f"error: {name} has no mean to plot; omit --mean")
    k = cfg.num_classes
    if k is not None and not _takes_labels(module.sample):
        raise SystemExit(
            f"error: model {cfg.model!r} is conditional on class labels, but {name}.sample() "
            f"takes no labels y; give it a y argument, sample(num_samples, y), to draw per class"
        )
    if k is not None and n < k:
        raise SystemExit(f"error: -n {n} is fewer than one sample for each of the {k} classes")
    with torch.no_grad():
        images = _draw(module, n, k, mean)
    path = Path(out or Path(run_dir) / "samples.png")
    if k is None:
        plots.save_samples(images, path, title=f"{n} samples")
    else:
        per_class = images.shape[0] // k
        title = f"{per_class} samples per class, one row per class 0..{k - 1}"
        if images.dim() == 4:
            plots.save_image_grid(images, path, nrow=per_class, title=title)
        else:
            plots.save_samples(images, path, title=title)
        print(f"{per_class} samples for each of the {k} classes")
    print(f"wrote {path}")
    return path
