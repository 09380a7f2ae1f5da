"""PixelVAE vs the plain VAE vs PixelCNN on fixed binarized MNIST, at one small CPU budget.

Every model trains for the same number of epochs on the same random subset of the training
split (same batches, Adam, ``Trace_ELBO`` or maximum likelihood through ``SVITrainer``):

* the convolutional VAE (``VAE(arch="conv")``): the PixelVAE's encoder and upsampling
  network, with a factorized Bernoulli decoder (a receptive field of 0 pixels);
* PixelVAE with L = 1, 3, 6 masked k x k layers (``--depths``), the receptive field growing
  with L;
* PixelCNN alone: the masked stack of the deepest PixelVAE without z.

On a random subset of the test split (it is sorted by digit: never a prefix) it reports the
importance-sampled NLL (``pyrogen.metrics.log_likelihood``; exact for PixelCNN), -ELBO with
the analytic KL, the average KL(q(z|x) || p(z)), and the active units (Burda et al. 2016).
Writes ``benchmarks/results/pixel_vae.md`` with two PNG figures and a JSON of the numbers.

    python benchmarks/pixel_vae.py --out benchmarks/results/pixel_vae.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import pyro
import torch
from matplotlib.figure import Figure
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO

from pyrogen.data import load
from pyrogen.infer import SVITrainer
from pyrogen.metrics import active_units, log_likelihood
from pyrogen.models import VAE, PixelCNN, PixelVAE
from pyrogen.plots import image_grid


def build(kind: str, depth: int, args: argparse.Namespace) -> torch.nn.Module:
    shape = (1, 28, 28)
    if kind == "vae":
        return VAE(shape, z_dim=args.z_dim, hidden=(args.hidden,), arch="conv", act="relu")
    if kind == "pixelcnn":
        k = args.kernel_size
        return PixelCNN(shape, args.channels, depth - 1, kernel_size=k, first_kernel=k)
    return PixelVAE(
        shape, args.z_dim, args.hidden, args.channels, depth, args.kernel_size, args.cond_channels
    )


def train(m: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace, name: str) -> dict:
    # Latent models: the ELBO with the closed-form Gaussian KL (TraceMeanField_ELBO), so that
    # a unit the decoder ignores is pulled to the prior without Monte Carlo noise.
    loss = None if isinstance(m, PixelCNN) else TraceMeanField_ELBO()
    trainer = SVITrainer(m, loss=loss, lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)  # the same batches for every model
    steps, start, epoch_losses = 0, time.perf_counter(), []
    for epoch in range(args.epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        total = 0.0
        for i in range(0, x.shape[0] - args.batch_size + 1, args.batch_size):
            total += float(trainer.step(x[perm[i : i + args.batch_size]])["loss"])
            steps += 1
        epoch_losses.append(total / (x.shape[0] // args.batch_size))
        seconds = time.perf_counter() - start
        print(f"  {name} epoch {epoch + 1}: loss {epoch_losses[-1]:.2f} ({seconds:.0f} s)")
    return {"steps": steps, "train_loss": epoch_losses[-1], "train_s": time.perf_counter() - start}


def conditional_log_lik(m: torch.nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) per example ``(N,)``, read off the model's own "x" site."""
    model = poutine.condition(m.model, data={"z": z})
    site = poutine.trace(model).get_trace(x).nodes["x"]
    return site["fn"].log_prob(x)


def gain_from_z(m: torch.nn.Module, x: torch.Tensor, seed: int) -> float:
    """E_x[log p(x | z ~ q(z|x)) - log p(x | z ~ p(z))]: how much the decoder's likelihood
    gains from the inferred code over a code drawn from the prior (0 if z is ignored)."""
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for i in range(0, len(x), 250):
        xb = x[i : i + 250]
        loc, scale = m.encode(xb)
        z_q = loc + scale * torch.randn(loc.shape, generator=gen)
        z_p = torch.randn(loc.shape, generator=gen)
        total += float((conditional_log_lik(m, xb, z_q) - conditional_log_lik(m, xb, z_p)).sum())
    return total / len(x)


@torch.no_grad()
def evaluate(m: torch.nn.Module, kind: str, x: torch.Tensor, args: argparse.Namespace) -> dict:
    m.eval()
    start = time.perf_counter()
    if kind == "pixelcnn":
        nll = float(-torch.cat([m.log_prob(x[i : i + 250]) for i in range(0, len(x), 250)]).mean())
        return {"nll": nll, "eval_s": time.perf_counter() - start}
    lp = log_likelihood(m, x, num_samples=args.num_samples, batch_size=50, chunk_size=25)
    elbo_loss = TraceMeanField_ELBO()
    neg_elbo = sum(elbo_loss.loss(m.model, m.guide, x[i : i + 250]) for i in range(0, len(x), 250))
    loc, scale = m.encode(x)
    kl = 0.5 * (loc**2 + scale**2 - 1 - 2 * scale.log()).sum(-1)
    au = active_units(m, x)
    return {
        "nll": float(-lp.mean()),
        "neg_elbo": neg_elbo / len(x),
        "kl": float(kl.mean()),
        # The part of the KL due to the means, 0.5 E_x |mu(x)|^2; the rest is the mismatch of
        # the posterior scales to 1, which carries no information about x.
        "kl_means": float(0.5 * (loc**2).sum(-1).mean()),
        "recon": neg_elbo / len(x) - float(kl.mean()),
        "active_units": au.total,
        "activity": float(sum(v.sum() for v in au.variances.values())),
        "gain_from_z": gain_from_z(m, x, args.seed),
        "eval_s": time.perf_counter() - start,
    }


def save_latent_use(rows: list[dict], path: Path, z_dim: int) -> None:
    latent = [r for r in rows if r["kind"] != "pixelcnn"]
    labels = [
        f"{'VAE' if r['kind'] == 'vae' else 'L=' + str(r['depth'])}\n{r['field']} px"
        for r in latent
    ]
    pos = list(range(len(latent)))
    fig = Figure(figsize=(13, 3.4))
    axes = fig.subplots(1, 4)
    ax = axes[0]
    ax.plot(pos, [r["active_units"] for r in latent], marker="o")
    ax.set_ylim(0, z_dim + 1)
    ax.set_ylabel("count with A_u > 0.01 (circles)", fontsize=8)
    twin = ax.twinx()
    twin.plot(pos, [r["activity"] for r in latent], marker="s", c="C1")
    twin.set_ylabel("sum of A_u (squares)", fontsize=8, color="C1")
    ax.set_title("active units", fontsize=9)
    ax = axes[1]
    ax.plot(pos, [r["kl"] for r in latent], marker="o", label="total")
    ax.plot(pos, [r["kl_means"] for r in latent], marker="s", label="from the means")
    ax.set_yscale("log")
    ax.set_title("KL(q(z|x) || p(z)) (nats)", fontsize=9)
    ax = axes[2]
    gains = [r["gain_from_z"] for r in latent]
    ax.plot(pos, gains, marker="o")
    if min(gains) > 0:
        ax.set_yscale("log")
    ax.set_title("log p(x | z~q) - log p(x | z~p(z)) (nats)", fontsize=9)
    ax = axes[3]
    ax.plot(pos, [r["nll"] for r in latent], marker="o", label="latent models (IS)")
    for r in rows:
        if r["kind"] == "pixelcnn":
            ax.axhline(r["nll"], ls="--", c="gray", label=f"{r['label']} ({r['field']} px)")
    ax.set_title("test NLL (nats)", fontsize=9)
    for ax in axes:
        ax.set_xticks(pos, labels, fontsize=7)
        ax.set_xlabel("VAE, PixelVAE with L layers: receptive field", fontsize=8)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def save_samples(samples: dict[str, torch.Tensor], path: Path) -> None:
    fig = Figure(figsize=(8, 1.15 * len(samples) + 0.3))
    axes = fig.subplots(len(samples), 1, squeeze=False)[:, 0]
    for ax, (label, x) in zip(axes, samples.items()):
        ax.imshow(image_grid(x, nrow=x.shape[0]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def report(rows: list[dict], args: argparse.Namespace, command: str, total_s: float) -> str:
    lines = [
        "# PixelVAE: latent use against the decoder's receptive field (binarized MNIST)",
        "",
        f"Command: `{command}`",
        "",
        f"Budget (equal for every row): {args.epochs} epochs over {args.train_size} random "
        f"images of the 50,000 fixed-binarized training images, batch {args.batch_size}, Adam "
        f"lr {args.lr}, seed {args.seed}, the same batches for every model, CPU with "
        f"{args.threads} thread(s); whole run {total_s / 60:.1f} min. Latent models: "
        f"z_dim {args.z_dim}, convolutional encoder (two stride-2 convs, {args.hidden} "
        f"hidden); the VAE's decoder is the upsampling network alone, PixelVAE's adds "
        f"L masked {args.kernel_size}x{args.kernel_size} convolutions with {args.channels} "
        f"channels (z enters every one through a {args.cond_channels}-channel map); "
        f"PixelCNN is the deepest masked stack without z. Latent models trained on the ELBO "
        f"with the analytic KL (TraceMeanField_ELBO), PixelCNN by maximum likelihood.",
        "",
        f"Evaluation on {args.num_test} random test images (seed {args.seed}): NLL by "
        f"importance sampling with {args.num_samples} draws from q(z|x) (exact for "
        f"PixelCNN), -ELBO = reconstruction + KL with the analytic KL and one draw of z; "
        f"KL of the means = 0.5 E_x |mu(x)|^2 (the rest of the KL is the posterior scales' "
        f"mismatch to 1, which says nothing about x); active units: A_u = Cov_x(E_q[z_u]) "
        f"> 0.01 (Burda et al. 2016), and their sum; gain from z = E_x[log p(x | z ~ q(z|x)) "
        f"- log p(x | z ~ p(z))], how much the decoder's likelihood improves with the "
        f"inferred code over a prior draw (0 when the decoder ignores z). Receptive field: "
        f"the pixels one logit reads (rows above = L k//2).",
        "",
        "| model | receptive field (px) | rows above | train (s) | train loss | test NLL "
        "| -ELBO | reconstruction | KL | KL of the means | active units | sum of A_u "
        "| gain from z |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(r: dict, key: str, fmt: str = ".2f") -> str:
        return format(r[key], fmt) if key in r else "n/a"

    for r in rows:
        au = f"{r['active_units']} / {args.z_dim}" if "active_units" in r else "n/a"
        lines.append(
            f"| {r['label']} | {r['field']} | {r['rows']} | {r['train_s']:.0f} | "
            f"{r['train_loss']:.2f} | {r['nll']:.2f} | {cell(r, 'neg_elbo')} | "
            f"{cell(r, 'recon')} | {cell(r, 'kl')} | {cell(r, 'kl_means')} | {au} | "
            f"{cell(r, 'activity', '.3f')} | {cell(r, 'gain_from_z')} |"
        )
    latent = [r for r in rows if r["kind"] != "pixelcnn"]
    kls = [r["kl"] for r in latent]
    aus = [r["active_units"] for r in latent]
    falls = all(a >= b for a, b in zip(kls, kls[1:]))
    au_falls = all(a >= b for a, b in zip(aus, aus[1:]))
    lines += [
        "",
        "![active units, KL and NLL against the receptive field](pixel_vae_latent_use.png)",
        "",
        "![samples](pixel_vae_samples.png)",
        "",
        f"Computed from the table: as the receptive field grows (VAE first), the KL term "
        f"{'never rises' if falls else 'does not fall monotonically'} and the active units "
        f"{'never rise' if au_falls else 'do not fall monotonically'}.",
    ]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    pyro.settings.set(module_local_params=True)
    if args.smoke:
        args.train_size, args.epochs, args.num_test, args.num_samples = 200, 1, 40, 4
        args.depths, args.channels, args.num_images = "1,2", 8, 4
    command = "python " + shlex.join(sys.argv)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(args.seed)
    train_x = load("binarized_mnist", "train", root=args.root, download=False).x
    train_x = train_x[torch.randperm(len(train_x), generator=gen)[: args.train_size]]
    test_x = load("binarized_mnist", "test", root=args.root, download=False).x
    # The test split is sorted by digit: evaluate on a random subset, never on a prefix.
    test_x = test_x[torch.randperm(len(test_x), generator=gen)[: args.num_test]]
    depths = [int(d) for d in args.depths.split(",")]
    if max(depths) < 2:
        raise ValueError(f"--depths needs a depth >= 2 for the PixelCNN row, got {depths}")
    plan = [("vae", 0, "VAE (conv)")]
    plan += [("pixel_vae", d, f"PixelVAE L={d}") for d in depths]
    plan += [("pixelcnn", max(depths), f"PixelCNN L={max(depths)}")]
    rows, samples = [], {}
    for kind, depth, label in plan:
        field = 0
        if kind != "vae":  # the PixelCNN's masked stack is the PixelVAE decoder's
            shape = (1, 28, 28)
            dec = PixelVAE(shape, num_layers=depth, kernel_size=args.kernel_size).decoder
            field = int(dec.receptive_field().sum())
        pyro.set_rng_seed(args.seed)
        m = build(kind, depth, args)
        print(f"{label}: training", flush=True)
        row = {"label": label, "kind": kind, "depth": depth, "field": field}
        row["rows"] = depth * (args.kernel_size // 2)
        row |= train(m, train_x, args, label)
        row |= evaluate(m, kind, test_x, args)
        pyro.set_rng_seed(args.seed)
        t = time.perf_counter()
        samples[label] = m.sample(args.num_images)
        row["sample_s"] = time.perf_counter() - t
        print(f"  {row}", flush=True)
        rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_latent_use(rows, out.with_name(out.stem + "_latent_use.png"), args.z_dim)
    save_samples(samples, out.with_name(out.stem + "_samples.png"))
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    text = report(rows, args, command, time.perf_counter() - start)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--z-dim", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cond-channels", type=int, default=8)
    parser.add_argument("--kernel-size", type=int, default=3)
    parser.add_argument("--depths", default="1,3,6", help="PixelVAE decoder depths L")
    parser.add_argument("--num-test", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=32)
    parser.add_argument("--num-images", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--root", default=None)
    parser.add_argument("--out", default="benchmarks/results/pixel_vae.md")
    parser.add_argument("--smoke", action="store_true", help="a tiny run of every step")
    main(parser.parse_args())
