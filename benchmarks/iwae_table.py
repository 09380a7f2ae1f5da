"""Reproduces the IWAE paper's Table 1: VAE vs IWAE, k in {1, 5, 50}, one and two layers.

Architectures (Burda et al. 2016, sec. 5, and the authors' released code,
github.com/yburda/iwae): one stochastic layer x-200-200-z(50), tanh; two layers
x-200-200-z1(100)-100-100-z2(50), decoders mirrored; Glorot-uniform weights, zero biases, the
output bias at the log-odds of the mean training image. Adam (beta 0.9, 0.999, eps 1e-4, as
the paper's text; the released code starts the second moments at one and uses beta1 = 0.99),
batch 20, the staged schedule: stage i = 0..S-1 runs 3^i passes at lr 1e-3 * 10^(-i/7)
(S = 8 gives the paper's 3,280 epochs). Test NLL by importance sampling with 5000 samples,
active units by Cov_x(E_q[z_u]) > 0.01 on test examples.

The CPU budget (default) shortens a "pass" to ``--epoch-examples`` examples drawn from the
whole training set and evaluates on a random (never a prefix: the binarized test split is
sorted by digit) subset of the test set; ``--full`` selects the paper's recipe (GPU)::

    python benchmarks/iwae_table.py                       # CPU budget, both binarizations
    python benchmarks/iwae_table.py --binarization fixed  # one of them
    python benchmarks/iwae_table.py --full --device cuda  # 3,280 epochs, 10k test examples
    python benchmarks/iwae_table.py --dataset omniglot    # the Omniglot column

Omniglot is the paper's 28x28 ``chardata.mat`` (``pyrogen.data.load("omniglot")``), binarized
dynamically as in the paper; it is not bundled, so without the file under the data root (or a
network connection to fetch it) the script stops with the message that says where to put it.

VAE with k samples is Trace_ELBO averaged over k particles; IWAE is IWAE_ELBO(k). For k = 1
both objectives are the same function, so one run fills both columns. ``--inference
factorized``, ``--narrow`` and ``--init torch`` run variants (not the paper's), to study what
the two-layer model needs at small budgets.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import pyro
import torch
from iwae_report import table
from pyro.infer import Trace_ELBO

from pyrogen.data import DatasetNotFoundError, load
from pyrogen.infer import SVITrainer, make_adam
from pyrogen.metrics import active_units, log_likelihood
from pyrogen.models import HierarchicalVAE
from pyrogen.models.hierarchical_vae import default_hidden
from pyrogen.objectives import IWAE_ELBO

Z_DIMS = {1: (50,), 2: (100, 50)}
# --narrow: two layers as wide as the stochastic layer they feed (a variant, not the paper's;
# without it HierarchicalVAE's default widths are the paper's, see default_hidden)
NARROW = {1: ((200, 200),), 2: ((100, 100), (50, 50))}
ROOT = Path(__file__).resolve().parent


def get_data(group: str, root: str, n_test: int, seed: int):
    """Training images (grey levels for dynamic binarization) and a binary test subset."""
    g = torch.Generator().manual_seed(seed)
    if group == "fixed":
        train = load("binarized_mnist", "train", root=root).x
        test = load("binarized_mnist", "test", root=root).x
    else:
        name = "omniglot" if group == "omniglot" else "mnist"
        train = load(name, "train", root=root).x
        test = load(name, "test", root=root).x.bernoulli(generator=g)  # binarized once
    idx = torch.randperm(test.shape[0], generator=g)[:n_test]  # random subset, never a prefix
    return train, test[idx]


def widths(args: argparse.Namespace, layers: int) -> tuple[tuple[int, ...], ...]:
    """Deterministic widths per stochastic layer, z1's first."""
    return NARROW[layers] if args.narrow else default_hidden(Z_DIMS[layers])


def init_glorot(model: HierarchicalVAE) -> None:
    """Every linear layer as the authors' code starts it: W ~ U(-a, a) with
    a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010, for tanh), b = 0."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)


def init_output_bias(model: HierarchicalVAE, data: torch.Tensor) -> None:
    """Output logits start at the log-odds of the mean training image, so that training
    begins at the pixel-marginal model instead of spending its first steps getting there."""
    p = data.mean(0).flatten().clamp(1e-3, 1 - 1e-3)
    with torch.no_grad():
        model.decoder_net[-1].bias.copy_(torch.log(p) - torch.log1p(-p))


def train(model, loss, data, args, binarization, seed):
    """The staged schedule; returns the number of examples seen."""
    torch.manual_seed(seed)
    if args.init == "glorot":
        init_glorot(model)
    init_output_bias(model, data)
    trainer = SVITrainer(model, loss, optim=make_adam(model.parameters(), lr=1e-3, eps=1e-4))
    n = data.shape[0]
    per_pass = n if args.epoch_examples <= 0 else args.epoch_examples
    perm, pos, seen = torch.randperm(n), 0, 0
    for stage in range(args.stages):
        for group in trainer.optim.param_groups:
            group["lr"] = 1e-3 * 10 ** (-stage / 7)
        for _ in range(math.ceil(3**stage * per_pass / args.batch_size)):
            if pos + args.batch_size > n:
                perm, pos = torch.randperm(n), 0
            xb = data[perm[pos : pos + args.batch_size]]
            pos += args.batch_size
            if binarization in ("dynamic", "omniglot"):
                xb = xb.bernoulli()
            out = trainer.step(xb)
            seen += xb.shape[0]
        print(f"    stage {stage}: loss {float(out['loss']):.2f}", flush=True)
    return seen


def run(args, binarization: str, results: dict) -> None:
    train_x, test_x = get_data(binarization, args.data_root, args.test_examples, args.seed)
    for layers in args.layers:
        for k in args.k:
            for kind in args.kinds if k > 1 else ("IWAE",):
                key = f"{binarization}/{layers}/{k}/{kind}"
                if key in results:
                    continue
                t0 = time.time()
                torch.manual_seed(args.seed)
                model = HierarchicalVAE(
                    (1, 28, 28),
                    z_dims=Z_DIMS[layers],
                    hidden=widths(args, layers),
                    inference=args.inference,
                ).to(args.device)
                if kind == "IWAE":
                    loss = IWAE_ELBO(num_particles=k, max_plate_nesting=1)
                else:
                    loss = Trace_ELBO(
                        num_particles=k, vectorize_particles=True, max_plate_nesting=1
                    )
                print(f"{key}: training", flush=True)
                seen = train(model, loss, train_x.to(args.device), args, binarization, args.seed)
                model.eval()
                x = test_x.to(args.device)
                torch.manual_seed(args.seed + 1)
                nll_each = -log_likelihood(model, x, num_samples=args.is_samples)  # (N,)
                nll = nll_each.mean().item()
                au = active_units(model, x)
                results[key] = {
                    "nll": nll,
                    # per test example, for paired comparisons between rows
                    "nll_each": [round(v, 3) for v in nll_each.tolist()],
                    "au": str(au),
                    "au_total": au.total,
                    "examples_seen": seen,
                    "seconds": time.time() - t0,
                    "command": args.command,
                }
                print(f"{key}: NLL {nll:.2f}  AU {au}  ({time.time() - t0:.0f} s)", flush=True)
                save(args, results)


def save(args, results: dict) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    out.write_text(table(args, results, widths(args, 2)))


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    if args.full:
        args.stages, args.epoch_examples, args.test_examples = 8, 0, 10000
    if args.dataset == "omniglot":
        if args.binarization not in (None, ["dynamic"]):
            raise SystemExit(
                "Omniglot is binarized dynamically as in the paper; drop --binarization"
            )
        groups = ["omniglot"]
    else:
        groups = args.binarization or ["dynamic", "fixed"]
    if args.out is None:
        name = "iwae_table_omniglot.md" if args.dataset == "omniglot" else "iwae_table.md"
        args.out = str(ROOT / "results" / name)
    out = Path(args.out)
    results: dict = {}
    if args.merge:
        # combine finished runs (e.g. one process per binarization) into one table
        for f in args.merge:
            results.update(json.loads(Path(f).read_text()))
        save(args, results)
    else:
        if args.resume and out.with_suffix(".json").exists():
            results = json.loads(out.with_suffix(".json").read_text())
        for b in groups:
            try:
                run(args, b, results)
            except DatasetNotFoundError as e:
                # the file is not bundled: say where it goes instead of a traceback
                raise SystemExit(f"{e}") from None
    print(table(args, results, widths(args, 2)))


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument(
    "--dataset",
    default="mnist",
    choices=["mnist", "omniglot"],
    help="MNIST (both binarizations) or the paper's Omniglot column (dynamic binarization)",
)
parser.add_argument(
    "--binarization",
    nargs="+",
    choices=["dynamic", "fixed"],
    help="MNIST binarizations to run (default: both)",
)
parser.add_argument("--layers", nargs="+", type=int, default=[1, 2], choices=[1, 2])
parser.add_argument("--k", nargs="+", type=int, default=[1, 5, 50])
parser.add_argument("--stages", type=int, default=3, help="8 = the paper's 3,280 epochs")
parser.add_argument(
    "--epoch-examples",
    type=int,
    default=1800,
    help="examples per 'pass' (<= 0: the whole training set)",
)
parser.add_argument("--batch-size", type=int, default=20)
parser.add_argument(
    "--inference",
    default="chain",
    choices=["chain", "factorized"],
    help="q(z2 | z1) as in the paper, or the factorized q(z2 | x)",
)
parser.add_argument(
    "--narrow", action="store_true", help="two layers with 100-100 / 50-50 deterministic units"
)
parser.add_argument(
    "--init",
    default="glorot",
    choices=["glorot", "torch"],
    help="Glorot-uniform weights and zero biases as the paper's code, or torch's default",
)
parser.add_argument(
    "--kinds", nargs="+", default=["IWAE", "VAE"], choices=["IWAE", "VAE"], help="for k > 1"
)
parser.add_argument("--test-examples", type=int, default=100)
parser.add_argument("--is-samples", type=int, default=5000)
parser.add_argument("--full", action="store_true", help="the paper's full recipe")
parser.add_argument("--device", default="cpu")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-root", default=None)
parser.add_argument("--resume", action="store_true", help="keep finished rows of --out")
parser.add_argument("--merge", nargs="+", help="only tabulate these results .json files")
parser.add_argument(
    "--out", help="default results/iwae_table.md, results/iwae_table_omniglot.md for Omniglot"
)

if __name__ == "__main__":
    import sys

    a = parser.parse_args()
    a.command = " ".join(sys.argv[1:])
    main(a)
