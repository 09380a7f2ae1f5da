r"""Bernoulli-latent VAE on binarized MNIST, trained with four gradient estimators.

Model and guide (one stochastic layer of binary units, as a sigmoid belief net with an
MLP decoder)::

    p(z) = prod_j Bernoulli(z_j; sigmoid(a_j)),   p(x | z) = Bernoulli(x; sigmoid(dec(z))),
    q(z | x) = prod_j Bernoulli(z_j; sigmoid(enc(x)_j)).

z is discrete, so the reparameterized gradient does not exist. Estimators compared, after the
same number of epochs, by the importance-sampled test NLL of the *discrete* model:

* ``score``: REINFORCE with a decaying-average baseline (``ScoreFunction_ELBO``),
* ``nvil``: REINFORCE with NVIL's learned input-dependent baseline and signal normalization,
* ``vimco``: the K-sample bound with VIMCO's leave-one-out signals (``VIMCO_ELBO``),
* ``concrete``: the Concrete / Gumbel-softmax relaxation (Maddison et al. 2017; Jang et al.
  2017) trained with ``Trace_ELBO`` on logistic pre-sigmoid variables y, z = sigmoid(y),
  y ~ Logistic(logits / t, 1 / t); evaluated with the hard Bernoulli model.

Run ``python examples/discrete_vae.py --epochs 5`` (binarized MNIST from ``--data-root``) and
``--smoke-test`` for a few-second run on the 8x8 digits thresholded to {0, 1}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO
from pyro.nn import PyroModule
from torch import nn

from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit
from pyrogen.metrics import log_likelihood
from pyrogen.nn import MLP
from pyrogen.objectives import VIMCO_ELBO, NVILBaseline, ScoreFunction_ELBO

ESTIMATORS = ("score", "nvil", "vimco", "concrete")


class ClampedLogistic(dist.Logistic):
    """Logistic whose reparameterized draws stay finite: the uniform noise is kept inside
    (eps, 1 - eps), since a float32 uniform of exactly 0 gives y = -inf and log_prob = NaN."""

    def rsample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        eps = torch.finfo(self.loc.dtype).eps
        u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device).clamp(eps, 1 - eps)
        return self.loc + self.scale * (u.log() - (-u).log1p())


class DiscreteVAE(PyroModule):
    """Bernoulli latents; ``temperature`` set to a float switches to the Concrete relaxation.

    Args:
        x_shape: shape of one observation.
        z_dim: number of binary latents.
        hidden: hidden width of the encoder and decoder MLPs (tanh).
    """

    def __init__(self, x_shape: tuple[int, ...], z_dim: int = 200, hidden: int = 200):
        super().__init__()
        self.x_shape = tuple(x_shape)
        x_dim = int(torch.Size(self.x_shape).numel())
        self.encoder = MLP(x_dim, (hidden,), z_dim, act="tanh")
        self.decoder = MLP(z_dim, (hidden,), x_dim, act="tanh")
        self.prior_logits = nn.Parameter(torch.zeros(z_dim))
        # Concrete: posterior temperature 2/3 and prior 1/2 (Maddison et al., appendix C).
        self.temperature: tuple[float, float] | None = None

    def _latent(self, logits: torch.Tensor, which: int) -> dist.TorchDistribution:
        if self.temperature is None:
            return dist.Bernoulli(logits=logits).to_event(1)
        t = self.temperature[which]
        return ClampedLogistic(logits / t, torch.full_like(logits, 1.0 / t)).to_event(1)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.temperature is not None:
            z = torch.sigmoid(z)  # relaxed: logistic pre-activations y -> z in (0, 1)
        out = self.decoder(z)
        return out.reshape(*out.shape[:-1], *self.x_shape)

    def model(self, x: torch.Tensor) -> None:
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", self._latent(self.prior_logits.expand(x.shape[0], -1), 0))
            likelihood = dist.Bernoulli(logits=self._decode(z), validate_args=False)
            pyro.sample("x", likelihood.to_event(len(self.x_shape)), obs=x)

    def guide(self, x: torch.Tensor) -> None:
        logits = self.encoder(x.reshape(x.shape[0], -1))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", self._latent(logits, 1))


def make_trainer(name: str, vae: DiscreteVAE, args: argparse.Namespace) -> SVITrainer:
    if name == "score":
        loss = ScoreFunction_ELBO(baseline="mean")
    elif name == "nvil":
        vae.baseline = NVILBaseline(vae.x_shape, hidden=(100,))  # trained with the model
        loss = ScoreFunction_ELBO(baseline="nvil", baseline_net=vae.baseline)
    elif name == "vimco":
        loss = VIMCO_ELBO(num_particles=args.particles)
    elif name == "concrete":
        vae.temperature = (0.5, 2.0 / 3.0)
        loss = Trace_ELBO()
    else:
        raise ValueError(f"unknown estimator {name!r}; expected one of {ESTIMATORS}")
    return SVITrainer(vae, loss, lr=args.lr)


def main(args: argparse.Namespace) -> list[dict[str, float]]:
    pyro.settings.set(module_local_params=True)
    torch.set_num_threads(args.threads)
    if args.smoke_test:
        train = load("digits", binarize="threshold", root=args.data_root).x[:200]
        test = load("digits", split="test", binarize="threshold", root=args.data_root).x[:50]
        args.epochs, args.z_dim, args.hidden, args.eval_samples = 1, 8, 16, 10
    else:
        train = load("binarized_mnist", root=args.data_root).x
        test = load("binarized_mnist", split="test", root=args.data_root).x
        g = torch.Generator().manual_seed(0)
        # The test split is sorted by digit: evaluate a random subset, never a prefix.
        test = test[torch.randperm(len(test), generator=g)[: args.eval_size]]
    rows = []
    for name in args.estimators:
        pyro.set_rng_seed(args.seed)
        vae = DiscreteVAE(tuple(train.shape[1:]), args.z_dim, args.hidden)
        trainer = make_trainer(name, vae, args)
        start = time.perf_counter()
        history = fit(
            trainer,
            train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            device=args.device,
            seed=args.seed,
            progress=False,
            callback=lambda epoch, m, name=name: print(
                f"{name} epoch {epoch}: train loss {m['train_loss']:.2f}", flush=True
            ),
        )
        seconds = time.perf_counter() - start
        vae.temperature = None  # every estimator is evaluated on the discrete model
        dev = next(vae.parameters()).device
        pyro.set_rng_seed(args.seed)
        log_px = log_likelihood(
            vae.model,
            vae.guide,
            test.to(dev),
            num_samples=args.eval_samples,
            chunk_size=args.eval_samples,
        )
        row = {
            "estimator": name,
            "test_nll": -float(log_px.mean()),
            "train_loss": history[-1]["train_loss"],
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"{name:>9}: test NLL {row['test_nll']:.2f} nats  (last train loss "
            f"{row['train_loss']:.2f}, {seconds:.0f} s)",
            flush=True,
        )
    if args.out:
        write_table(rows, args)
    return rows


def write_table(rows: list[dict], args: argparse.Namespace) -> None:
    path = Path(args.out)
    argv = " ".join(getattr(args, "argv", []))
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Discrete-latent VAE on binarized MNIST: test NLL per gradient estimator",
        "",
        f"Command: `python examples/discrete_vae.py {argv}`",
        "",
        f"Budget: {args.epochs} epochs over the 50,000 training images, batch "
        f"{args.batch_size}, Adam lr {args.lr}, seed {args.seed}; {args.z_dim} Bernoulli "
        f"latents, {args.hidden} tanh hidden units; VIMCO with K = {args.particles}; CPU, "
        f"{args.threads} thread(s). Test NLL: importance sampling with "
        f"{args.eval_samples} samples from q on {args.eval_size} random test images "
        "(a K-sample bound, so an upper bound on the true NLL).",
        "",
        "| estimator | test NLL (nats) | final train loss | training time (s) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['estimator']} | {r['test_nll']:.2f} | {r['train_loss']:.2f} | {r['seconds']:.0f} |"
        for r in rows
    ]
    path.write_text("\n".join(lines) + "\n")


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=50)
parser.add_argument("--lr", type=float, default=3e-4)
parser.add_argument("--z-dim", type=int, default=200)
parser.add_argument("--hidden", type=int, default=200)
parser.add_argument("--particles", type=int, default=5, help="K for VIMCO")
parser.add_argument("--eval-samples", type=int, default=100)
parser.add_argument("--eval-size", type=int, default=2000)
parser.add_argument("--data-root", default=None)
parser.add_argument("--out", default=None, help="markdown table to write")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    import sys

    parsed = parser.parse_args()
    parsed.argv = sys.argv[1:]
    main(parsed)
