"""The report of ``benchmarks/iwae_table.py``: its rows beside Burda et al. (2016), Table 1,
and the paper's orderings (IWAE beats VAE, more samples help, two layers beat one) checked
on whatever rows exist."""

from __future__ import annotations

import math

import torch

from pyrogen.data import DATASETS

# Burda et al. 2016, Table 1 (MNIST): (layers, k) -> (VAE NLL, VAE AU, IWAE NLL, IWAE AU)
PAPER = {
    (1, 1): (86.76, "19", 86.76, "19"),
    (1, 5): (86.47, "20", 85.54, "22"),
    (1, 50): (86.35, "20", 84.78, "25"),
    (2, 1): (85.33, "16+5", 85.33, "16+5"),
    (2, 5): (85.01, "17+5", 83.89, "21+5"),
    (2, 50): (84.78, "17+5", 82.90, "26+7"),
}
# The same table, OMNIGLOT columns
PAPER_OMNIGLOT = {
    (1, 1): (108.11, "28", 108.11, "28"),
    (1, 5): (107.62, "28", 106.12, "34"),
    (1, 50): (107.80, "28", 104.67, "41"),
    (2, 1): (107.58, "28+4", 107.56, "30+5"),
    (2, 5): (106.31, "30+5", 104.79, "38+6"),
    (2, 50): (106.30, "30+5", 103.38, "44+7"),
}
# row groups of the table: MNIST under each binarization, then Omniglot (dynamic binarization)
GROUPS = ("dynamic", "fixed", "omniglot")
PAPERS = {"dynamic": PAPER, "fixed": PAPER, "omniglot": PAPER_OMNIGLOT}
LABELS = {"dynamic": "MNIST dynamic", "fixed": "MNIST fixed", "omniglot": "Omniglot dynamic"}


def table(args, results: dict, two_layer_widths: tuple) -> str:
    """The markdown report: every row beside the paper's, then the paper's orderings."""
    commands = sorted({r.get("command", args.command) for r in results.values()})
    groups = {key.split("/")[0] for key in results}
    datasets = [
        d for d, gs in (("MNIST", {"dynamic", "fixed"}), ("Omniglot", {"omniglot"})) if gs & groups
    ] or ["MNIST"]
    sizes = "; ".join(
        f"{d}: {DATASETS[d.lower()].splits['train']:,} training and "
        f"{DATASETS[d.lower()].splits['test']:,} test images"
        for d in datasets
    )
    per_pass = (
        "the full training set" if args.epoch_examples <= 0 else (f"{args.epoch_examples} examples")
    )
    lines = [
        f"# IWAE table (Burda et al. 2016, Table 1, {' and '.join(datasets)}): this library "
        "vs the paper",
        "",
        "Commands:",
        "",
        *[f"    python benchmarks/iwae_table.py {c}" for c in commands],
        "",
        f"Budget: {args.stages} stages of 3^i passes (a pass = {per_pass}), batch "
        f"{args.batch_size}, Adam(eps=1e-4), lr 1e-3 * 10^(-i/7); NLL = -mean log p(x) with "
        f"{args.is_samples} importance samples on {args.test_examples} random test examples "
        f"(seed {args.seed}); active units on the same examples. Paper: 8 stages (3,280 "
        f"epochs over the training set), NLL on the whole test set ({sizes}).",
        "",
        f"Model: deterministic widths {two_layer_widths} for two layers "
        f"({'a variant' if args.narrow else 'as the paper'}), {args.inference} inference, "
        f"{args.init} initialization.",
        "",
        "| data | layers | k | VAE NLL | paper | VAE AU | paper | IWAE NLL | paper "
        "| IWAE AU | paper | examples seen |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in GROUPS:
        for layers in (1, 2):
            for k in (1, 5, 50):
                iw = results.get(f"{b}/{layers}/{k}/IWAE")
                va = iw if k == 1 else results.get(f"{b}/{layers}/{k}/VAE")
                if iw is None and va is None:
                    continue
                p = PAPERS[b][(layers, k)]

                def cell(r, field, fmt="{:.2f}"):
                    return "-" if r is None else fmt.format(r[field])

                seen = (iw or va)["examples_seen"]
                lines.append(
                    f"| {LABELS[b]} | {layers} | {k} | {cell(va, 'nll')} | {p[0]:.2f} | "
                    f"{cell(va, 'au', '{}')} | {p[1]} | {cell(iw, 'nll')} | {p[2]:.2f} | "
                    f"{cell(iw, 'au', '{}')} | {p[3]} | {seen} |"
                )
    lines += ["", "k = 1: VAE and IWAE are the same objective; one run fills both columns."]
    if "omniglot/2/1/IWAE" in results:
        vae, _, iwae, _ = PAPER_OMNIGLOT[(2, 1)]
        lines += [
            f"For two layers and k = 1 the paper reports different Omniglot entries for VAE "
            f"({vae:.2f}) and IWAE ({iwae:.2f}); the one run here is set against both."
        ]
    lines += [""]
    lines += checks(results)
    return "\n".join(lines)


def paired_difference(a: list[float] | None, b: list[float] | None) -> str:
    """`` (mean(a - b) +- its standard error)`` over the same test examples, or ``""`` when
    either row has no per-example values (rows run before they were stored)."""
    if a is None or b is None or len(a) != len(b) or len(a) < 2:
        return ""
    d = torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)
    return f" ({d.mean():+.2f} +- {d.std() / math.sqrt(len(d)):.2f})"


def checks(results: dict) -> list[str]:
    """The paper's orderings, checked on whatever rows exist ('-' where a row is missing)."""

    def get(b, layers, k, kind, field="nll"):
        r = results.get(f"{b}/{layers}/{k}/{'IWAE' if k == 1 else kind}")
        return None if r is None else r.get(field)

    def verdict(ok):
        return "-" if ok is None else ("yes" if ok else "no")

    out = ["## The paper's orderings on these rows", ""]
    out += ["| data | check | holds |", "|---|---|---|"]
    gaps = []
    present = {key.split("/")[0] for key in results}
    for b in [b for b in GROUPS if b in present]:
        name = LABELS[b]
        for layers in (1, 2):
            n = [get(b, layers, k, "IWAE") for k in (1, 5, 50)]
            ok = None if None in n else n[2] < n[1] < n[0]
            out.append(
                f"| {name} | {layers} layer(s): IWAE NLL(k=50) < NLL(k=5) < NLL(k=1) | "
                f"{verdict(ok)} |"
            )
            for k in (5, 50):
                a_iw, a_va = (
                    get(b, layers, k, "IWAE", "au_total"),
                    get(b, layers, k, "VAE", "au_total"),
                )
                ok = None if None in (a_iw, a_va) else a_iw >= a_va
                out.append(
                    f"| {name} | {layers} layer(s), k={k}: IWAE active units >= VAE's | "
                    f"{verdict(ok)} |"
                )
                n_iw, n_va = get(b, layers, k, "IWAE"), get(b, layers, k, "VAE")
                ok = None if None in (n_iw, n_va) else n_iw < n_va
                out.append(
                    f"| {name} | {layers} layer(s), k={k}: IWAE NLL < VAE NLL | {verdict(ok)} |"
                )
            for k in (1, 5, 50):
                for kind, col in (("VAE", 0), ("IWAE", 2)):
                    v = get(b, layers, k, kind)
                    if v is not None:
                        gaps.append(v - PAPERS[b][(layers, k)][col])
        for k in (1, 5, 50):
            for kind in ("VAE", "IWAE"):
                one, two = get(b, 1, k, kind), get(b, 2, k, kind)
                ok = None if None in (one, two) else two < one
                diff = paired_difference(
                    get(b, 2, k, kind, "nll_each"), get(b, 1, k, kind, "nll_each")
                )
                out.append(
                    f"| {name} | k={k} {kind}: two layers' NLL < one layer's | "
                    f"{verdict(ok)}{diff} |"
                )
    if gaps:
        out += [
            "",
            f"Gap to the paper's NLL over the rows present: mean {sum(gaps) / len(gaps):.1f}"
            f" nats, range {min(gaps):.1f} to {max(gaps):.1f} nats.",
            "",
        ]
    return out
