"""DCGAN on MNIST: train with any GAN loss, report FID, C2ST and the inception score.

The generator and critic follow Radford et al. (2016). Sample quality is measured against
held-out test images in the features of a small classifier trained on the training set
(cached in ``--cache-dir``): FID (Heusel et al. 2017), the classifier two-sample test
accuracy (Lopez-Paz & Oquab 2017; 0.5 = indistinguishable) and the inception-score analogue
(Salimans et al. 2016). The same metrics between two halves of the test set give the floor.
``--conditional`` trains a class-conditional GAN (Mirza & Osindero 2014)::

    python examples/dcgan.py --epochs 5 --out runs/dcgan
    python examples/dcgan.py --loss wgan-gp --train-size 10000
    python examples/dcgan.py --conditional --epochs 2
    python examples/dcgan.py --smoke-test
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyro
import torch

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import fit, make_gan_trainer, resolve_device
from pyrogen.metrics import c2st, fid, inception_score, load_or_train_classifier
from pyrogen.objectives import GAN_KINDS


def sample_quality(samples, reference, classifier) -> dict[str, float]:
    """FID and C2ST in the classifier's features, and the inception score of ``samples``."""
    f_s, f_r = classifier.features(samples), classifier.features(reference)
    return {
        "fid": float(fid(f_s, f_r)),
        "c2st": c2st(f_s, f_r),
        "is": inception_score(samples, classifier),
    }


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    dataset, n_train, n_eval, epochs = args.dataset, args.train_size, args.num_eval, args.epochs
    if args.smoke_test:
        dataset, n_train, n_eval, epochs = "digits", 256, 100, 1
    train = load(dataset, "train", root=args.data_root)
    test = load(dataset, "test", root=args.data_root)
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
    x_train, y_train = train.x[perm[:n_train]], train.y[perm[:n_train]]
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(1))[: 2 * n_eval]
    x_test, y_test = test.x[order].to(device), test.y[order].to(device)

    cache = Path(args.cache_dir or Path.home() / ".cache" / "pyrogen" / "classifiers")
    if args.smoke_test and not args.cache_dir:
        cache = Path(tempfile.mkdtemp())
    n_clf = min(len(train), args.classifier_size)
    clf = load_or_train_classifier(
        train.x[:n_clf].to(device),
        train.y[:n_clf].to(device),
        cache,
        name=f"{dataset}_{n_clf}",
        epochs=1 if args.smoke_test else args.classifier_epochs,
    )

    num_classes = int(train.y.max()) + 1 if args.conditional else 0
    trainer = make_gan_trainer(
        train.x.shape[1:], args.loss, z_dim=args.z_dim, width=args.width, num_classes=num_classes
    )
    t0 = time.perf_counter()
    if args.conditional:
        # fit feeds images only; a conditional GAN also needs the labels of each batch.
        trainer.module.to(device)
        gen = torch.Generator().manual_seed(args.seed)
        for _ in range(epochs):
            order = torch.randperm(len(x_train), generator=gen)
            for i in range(0, len(order), args.batch_size):
                idx = order[i : i + args.batch_size]
                trainer.step(x_train[idx].to(device), y_train[idx].to(device))
    else:
        fit(
            trainer,
            x_train,
            epochs=epochs,
            batch_size=args.batch_size,
            device=device,
            out=args.out,
            seed=args.seed,
            progress=not args.smoke_test,
        )
    seconds = time.perf_counter() - t0
    trainer.module.eval()
    with torch.no_grad():
        if args.conditional:
            labels = torch.arange(n_eval, device=device) % num_classes
            samples = trainer.module.sample(n_eval, y=labels)
        else:
            samples = trainer.module.sample(n_eval)
    result = sample_quality(samples, x_test[:n_eval], clf)
    floor = sample_quality(x_test[n_eval:], x_test[:n_eval], clf)
    result["seconds"] = seconds
    with torch.no_grad():
        result["classifier_accuracy"] = float((clf(x_test).argmax(-1) == y_test).float().mean())
    print(
        f"{args.loss} DCGAN, {n_train} images x {epochs} epochs in {seconds:.0f} s: "
        f"FID {result['fid']:.2f}, C2ST {result['c2st']:.3f}, IS {result['is']:.2f} "
        f"(test vs test: FID {floor['fid']:.2f}, C2ST {floor['c2st']:.3f}, IS {floor['is']:.2f}; "
        f"feature classifier test accuracy {result['classifier_accuracy']:.3f})"
    )
    if args.out:
        plots.save_image_grid(samples[:64].cpu(), Path(args.out) / "samples.png")
    return result


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="mnist")
parser.add_argument("--data-root", default=None)
parser.add_argument("--loss", default="nonsaturating", choices=GAN_KINDS)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--train-size", type=int, default=60000)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--z-dim", type=int, default=64)
parser.add_argument("--width", type=int, default=64, help="DCGAN channel width")
parser.add_argument("--num-eval", type=int, default=2000, help="samples for FID/C2ST/IS")
parser.add_argument("--conditional", action="store_true")
parser.add_argument("--classifier-size", type=int, default=20000, help="its training images")
parser.add_argument("--classifier-epochs", type=int, default=2)
parser.add_argument("--cache-dir", default=None, help="where the feature classifier is cached")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None)
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
