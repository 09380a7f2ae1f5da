"""Latent walks and attribute arithmetic in a class-conditional DCGAN trained on MNIST.

Trains ``make_gan_trainer((1, 28, 28), "nonsaturating", z_dim=64, width=32, num_classes=10)``
(the DCGAN of ``examples/dcgan.py`` with a class label) for a small CPU budget, then measures:

* **lerp vs slerp** (White 2016): 500 pairs of prior draws ``z0, z1`` with one label each;
  the norm of the path's midpoint against the prior's typical norm, and how often a
  classifier trained on MNIST reads the conditioned label in the decoded midpoint (and in
  the endpoints, for reference).
* **attribute arithmetic** (Radford et al. 2016, Sec. 6.3.2) with an attribute that can be
  measured without labels: stroke weight, the mean pixel intensity ("ink") of ``G(z, y)``
  averaged over the 10 labels. From 2000 draws, ``v = mean z of the heaviest fifth - mean z
  of the lightest fifth``; on 500 *other* draws, ink and label accuracy of
  ``G(z + s v, y)`` for several ``s``, against a random direction of the same norm.

Writes ``benchmarks/results/latent_arithmetic.md`` and two PNGs::

    python benchmarks/latent_arithmetic.py --steps 2000
    python benchmarks/latent_arithmetic.py --smoke
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import pyro
import torch

from pyrogen.data import load
from pyrogen.infer import make_gan_trainer
from pyrogen.metrics import load_or_train_classifier
from pyrogen.models import apply_attribute, attribute_vector, lerp, slerp
from pyrogen.plots import save_image_grid

SCALES = (-2.0, -1.0, 0.0, 1.0, 2.0)


@torch.no_grad()
def decode(generator, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.cat(
        [generator.generate(z[i : i + 500], y[i : i + 500]) for i in range(0, len(z), 500)]
    )


@torch.no_grad()
def label_accuracy(clf, images: torch.Tensor, y: torch.Tensor) -> float:
    return float((clf(images).argmax(-1) == y).float().mean())


@torch.no_grad()
def ink(generator, z: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean pixel intensity of ``G(z, y)`` averaged over every label, per latent ``(N,)``."""
    per_class = [
        decode(generator, z, torch.full((len(z),), k, dtype=torch.long)).mean((1, 2, 3))
        for k in range(num_classes)
    ]
    return torch.stack(per_class).mean(0)


def interpolation_study(args, generator, clf, num_classes: int) -> tuple[list[str], torch.Tensor]:
    g = torch.Generator().manual_seed(args.seed + 1)
    n, d = args.num_pairs, generator.z_dim
    z0, z1 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    y = torch.randint(num_classes, (n,), generator=g)
    paths = {"lerp": lerp(z0, z1, 9), "slerp": slerp(z0, z1, 9)}  # (9, n, d)
    typical = math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    rows = [
        "| path | mean norm of midpoint (prior mean norm "
        f"{typical:.2f}) | label accuracy of the decoded midpoint |",
        "| --- | --- | --- |",
    ]
    ends, y2 = torch.cat([z0, z1]), torch.cat([y, y])
    acc = label_accuracy(clf, decode(generator, ends, y2), y2)
    rows.append(f"| endpoints (prior draws) | {float(ends.norm(dim=-1).mean()):.2f} | {acc:.3f} |")
    for name, path in paths.items():
        mid = path[4]
        acc = label_accuracy(clf, decode(generator, mid, y), y)
        rows.append(f"| {name} | {float(mid.norm(dim=-1).mean()):.2f} | {acc:.3f} |")
    # Figure: 4 pairs, each a lerp row then a slerp row, 9 points from z0 to z1.
    imgs = []
    for i in range(4):
        for name in ("lerp", "slerp"):
            imgs.append(decode(generator, paths[name][:, i], y[i].expand(9)))
    return rows, torch.cat(imgs)


def arithmetic_study(
    args, generator, clf, num_classes: int
) -> tuple[list[str], torch.Tensor, dict]:
    g = torch.Generator().manual_seed(args.seed + 2)
    d = generator.z_dim
    build, held_out = torch.randn(2000, d, generator=g), torch.randn(500, d, generator=g)
    weight = ink(generator, build, num_classes)
    order = weight.argsort()
    fifth = len(build) // 5
    v = attribute_vector(build[order[-fifth:]], build[order[:fifth]])
    u = torch.randn(d, generator=g)
    u = u * v.norm() / u.norm()  # random direction, same length as v
    y = torch.arange(len(held_out)) % num_classes
    rows = [
        "| scale s | ink of G(z + s v) | label accuracy | ink of G(z + s u), random u "
        "| label accuracy (random u) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in SCALES:
        cells = []
        for direction in (v, u):
            z = apply_attribute(held_out, direction, s)
            images = decode(generator, z, y)
            cells += [f"{float(images.mean()):.4f}", f"{label_accuracy(clf, images, y):.3f}"]
        rows.append(f"| {s:+.0f} | " + " | ".join(cells) + " |")
    # Figure: rows = scales, columns = labels 0..9, for two held-out latents.
    imgs = []
    labels = torch.arange(num_classes)
    for i in range(2):
        for s in SCALES:
            z = apply_attribute(held_out[i], v, s).expand(num_classes, d)
            imgs.append(decode(generator, z, labels))
    info = {
        "norm_v": float(v.norm()),
        "ink_low": float(weight[order[:fifth]].mean()),
        "ink_high": float(weight[order[-fifth:]].mean()),
    }
    return rows, torch.cat(imgs), info


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    dataset, cache = args.dataset, args.cache_dir
    if args.smoke:
        dataset, args.steps, args.num_pairs, args.classifier_size = "digits", 5, 16, 500
        cache = cache or tempfile.mkdtemp()
    cache = cache or str(Path.home() / ".cache" / "pyrogen" / "classifiers")
    train = load(dataset, "train", root=args.data_root)
    num_classes = int(train.y.max()) + 1
    n_clf = min(len(train), args.classifier_size)
    start = time.process_time()
    clf = load_or_train_classifier(
        train.x[:n_clf], train.y[:n_clf], cache, name=f"{dataset}_{n_clf}", epochs=2
    )
    test = load(dataset, "test", root=args.data_root)
    clf_acc = label_accuracy(clf, test.x[:2000], test.y[:2000])
    trainer = make_gan_trainer(
        train.x.shape[1:],
        "nonsaturating",
        z_dim=args.z_dim,
        width=args.width,
        num_classes=num_classes,
    )
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.process_time()
    for _ in range(args.steps):
        idx = torch.randint(len(train), (args.batch_size,), generator=gen)
        trainer.step(train.x[idx], train.y[idx])
    train_cpu = time.process_time() - t0
    generator = trainer.generator.eval()
    interp_rows, interp_imgs = interpolation_study(args, generator, clf, num_classes)
    arith_rows, arith_imgs, info = arithmetic_study(args, generator, clf, num_classes)
    total_cpu = time.process_time() - start

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig_interp = out.with_name(out.stem + "_interpolation.png")
    fig_arith = out.with_name(out.stem + "_attribute.png")
    save_image_grid(interp_imgs, fig_interp, nrow=9, title="rows: lerp, slerp (x4 pairs)")
    save_image_grid(
        arith_imgs, fig_arith, nrow=num_classes, title=f"rows: z + s v, s = {SCALES} (x2 z)"
    )
    command = "python benchmarks/latent_arithmetic.py " + shlex.join(sys.argv[1:])
    text = (
        "# Latent walks and attribute arithmetic in a conditional DCGAN (MNIST)\n\n"
        f"Command: `{command.strip()}`\n\n"
        f"Model: class-conditional DCGAN, `make_gan_trainer((1, 28, 28), 'nonsaturating', "
        f"z_dim={args.z_dim}, width={args.width}, num_classes=10)`, Adam(2e-4, betas=(0.5, "
        f"0.999)), {args.steps} steps of batch {args.batch_size} drawn with replacement from "
        f"the {len(train)} training images, seed {args.seed}; one CPU thread, "
        f"{train_cpu:.0f} CPU s of training, {total_cpu:.0f} CPU s in all. Label accuracy is "
        f"read by the small CNN classifier of `pyrogen.metrics` trained on the first {n_clf} "
        f"training images (test accuracy {clf_acc:.3f}).\n\n"
        f"## lerp vs slerp ({args.num_pairs} pairs of prior draws, same label along a "
        f"path, midpoint t = 1/2)\n\n" + "\n".join(interp_rows) + "\n\n"
        f"Figure `{fig_interp.name}`: four pairs, each a lerp row then a slerp row, 9 points "
        f"from z0 to z1.\n\n"
        "## Attribute vector: stroke weight\n\n"
        f"v = mean z of the heaviest fifth minus mean z of the lightest fifth of 2000 draws "
        f"(mean ink {info['ink_high']:.4f} vs {info['ink_low']:.4f}; |v| = "
        f"{info['norm_v']:.2f}); evaluated on 500 other draws, labels 0..9 in turn; u is a "
        f"random direction of the same length.\n\n" + "\n".join(arith_rows) + "\n\n"
        f"Figure `{fig_arith.name}`: two held-out latents z; rows s = {SCALES}, columns the "
        f"labels 0..9 (each row is one latent decoded under every label).\n"
    )
    out.write_text(text)
    print(text)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="mnist")
parser.add_argument("--data-root", default=None)
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--z-dim", type=int, default=64)
parser.add_argument("--width", type=int, default=32)
parser.add_argument("--num-pairs", type=int, default=500)
parser.add_argument("--classifier-size", type=int, default=10000)
parser.add_argument("--cache-dir", default=None, help="where the label classifier is cached")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="benchmarks/results/latent_arithmetic.md")
parser.add_argument("--smoke", action="store_true", help="a tiny run")

if __name__ == "__main__":
    main(parser.parse_args())
