# %% [markdown]
# # Comparing gradient estimators
#
# Variational inference maximizes a bound such as the ELBO by stochastic gradients, and the
# bound can be differentiated in several ways. All estimators below are unbiased (or
# estimate the same quantity), so they differ in **variance**, which decides how fast
# training goes. We measure it:
#
# * **(a)** a conjugate Gaussian model, where the true gradient is known in closed form: bias
#   and variance of the reparameterized, score-function (no baseline, decaying-mean baseline,
#   leave-one-out, NVIL) and sticking-the-landing (STL) estimators;
# * **(b)** a VAE on binarized MNIST: the signal-to-noise ratio (SNR = |mean| / std) of the
#   encoder's and decoder's gradients against the number of importance samples K, for the
#   reparameterized IWAE gradient and the doubly reparameterized one (DReG). Rainforth et al.
#   (2018) showed that the encoder's SNR *falls* like 1/sqrt(K) with the former; Tucker et al.
#   (2019) that DReG makes it grow;
# * **(c)** training curves per estimator, at an equal number of steps and at equal
#   wall-clock time.
#
# Every estimator is a `pyro.infer.ELBO` subclass from `pyrogen.objectives`, and
# `pyrogen.objectives.gradient_variance` repeats any of them R times at fixed parameters.
#
# Run it as a script: `PYROGEN_SMOKE=1` (or `CI` set) selects a tiny run, and figures and
# tables go to `$PYROGEN_TUTORIAL_OUT` (default `gradient_estimators_output/`). The sentences
# printed below the tables are computed from the results of the run that produced them.

# %%
import math
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch
from matplotlib.ticker import LogLocator, NullFormatter
from pyro.infer import Trace_ELBO
from torch import nn

from pyrogen.data import load
from pyrogen.infer import SVITrainer
from pyrogen.models import VAE
from pyrogen.objectives import (
    IWAE_ELBO,
    STL_ELBO,
    NVILBaseline,
    ScoreFunction_ELBO,
    gradient_variance,
)

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "gradient_estimators_output")
OUT.mkdir(parents=True, exist_ok=True)
NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show tables and figures inline
pyro.settings.set(module_local_params=True)
torch.set_num_threads(int(os.environ.get("PYROGEN_THREADS", "1")))
pyro.set_rng_seed(0)


def say(markdown):
    """Prints a table or a sentence computed from the results (rendered in a notebook)."""
    if NOTEBOOK:
        from IPython.display import Markdown, display

        display(Markdown(markdown))
    else:
        print(markdown)


def show(fig, name):
    """Saves the figure to OUT and shows it in a notebook."""
    fig.savefig(OUT / name, dpi=120)
    plt.close(fig)
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(OUT / name)))


# %% [markdown]
# ## (a) A conjugate Gaussian model
#
# For each of B examples, z_b ~ N(0, 1) and x_b | z_b ~ N(z_b, 1); the posterior is
# N(x_b / 2, 1/2). The guide q(z_b) = N(m_b, e^{2 s_b}) has free parameters, and the negative
# ELBO has the closed-form gradient d/dm_b = 2 m_b - x_b, d/ds_b = 2 e^{2 s_b} - 1.
# We evaluate every estimator R times at two points: away from the posterior (m = 0, s = 0)
# and at the posterior itself, where the STL gradient is exactly zero.


# %%
class Conjugate(nn.Module):
    def __init__(self, x):
        super().__init__()
        self.m = nn.Parameter(torch.zeros_like(x))
        self.s = nn.Parameter(torch.zeros_like(x))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.m, self.s.exp()))

    def true_gradient(self, x):
        return torch.cat([2 * self.m - x, 2 * (2 * self.s).exp() - 1]).detach()


x_a = torch.tensor([-1.5, -0.3, 0.8, 2.0], dtype=torch.float64)
R_A_FULL = 2000
R_A = 200 if SMOKE else R_A_FULL
Z_FLAG = 4.0  # |bias| / s.e. above this flags an estimator as biased


def make_estimators(m):
    base = NVILBaseline((), hidden=(16,), normalize=False).double()
    nvil = ScoreFunction_ELBO(baseline="nvil", baseline_net=base)
    # NVIL's network learns to predict the signal from x: fit it at the fixed guide first.
    opt = torch.optim.Adam(base.parameters(), lr=0.02)
    for _ in range(100 if SMOKE else 400):
        opt.zero_grad()
        nvil.differentiable_loss(m.model, m.guide, x_a).backward()
        opt.step()
    mean = ScoreFunction_ELBO(baseline="mean")
    for _ in range(30):  # let the decaying average settle
        mean.differentiable_loss(m.model, m.guide, x_a)
    return {
        "reparameterized": Trace_ELBO(),
        "score, no baseline": ScoreFunction_ELBO(),
        "score, mean baseline": mean,
        "score, NVIL baseline": nvil,
        "score, leave-one-out (K=2)": ScoreFunction_ELBO(2, baseline="leave_one_out"),
        "STL": STL_ELBO(),
    }


results_a = {}
for point in ("away from posterior", "at posterior"):
    m = Conjugate(x_a)
    if point == "at posterior":
        with torch.no_grad():
            m.m.copy_(x_a / 2)
            m.s.fill_(0.5 * math.log(0.5))
    truth = m.true_gradient(x_a)
    for name, loss in make_estimators(m).items():
        stats = gradient_variance(
            m.model, m.guide, loss, x_a, num_draws=R_A, params={"guide": [m.m, m.s]}
        )["guide"]
        se = (stats.var / R_A).sqrt()
        bias = (stats.mean - truth).abs()
        # largest |bias| in units of its standard error (undefined where the estimator has no
        # variance at all: STL at the posterior)
        z = (bias / se).max().item() if se.min() > 1e-12 else float("nan")
        results_a[point, name] = (stats.total_var, z, bias.max().item())

lines = [
    "| estimator | point | total variance | variance / reparam | max abs bias | "
    "max abs bias / s.e. |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
]
for (point, name), (var, z, bias) in results_a.items():
    ref = results_a[point, "reparameterized"][0]
    lines.append(f"| {name} | {point} | {var:.4g} | {var / ref:.3g} | {bias:.2g} | {z:.2f} |")
table_a = "\n".join(lines)
(OUT / "conjugate_variance.md").write_text(table_a + "\n")
say(table_a)

# %%
zs = {key: z for key, (_, z, _) in results_a.items() if not math.isnan(z)}
worst = max(zs, key=zs.get)
undefined = [f"{n} ({p})" for (p, n), (_, z, _) in results_a.items() if math.isnan(z)]
if zs[worst] < Z_FLAG:
    verdict = (
        f"every estimator agrees with the closed-form gradient within Monte Carlo error: the "
        f"largest |bias| is {zs[worst]:.2f} standard errors ({worst[1]}, {worst[0]}), below "
        f"the threshold of {Z_FLAG:g}"
    )
else:
    flagged = ", ".join(f"{n} ({p}): {z:.2f}" for (p, n), z in zs.items() if z >= Z_FLAG)
    verdict = (
        f"the bias check is inconclusive at this size: {flagged} standard errors exceed "
        f"{Z_FLAG:g}. With so few draws the standard error of a heavy-tailed score-function "
        f"gradient is itself badly estimated; the full-size run uses {R_A_FULL} draws"
    )
say(
    f"With R = {R_A} draws, {verdict}. The ratio is undefined for "
    f"{', '.join(undefined) or 'no estimator'}: zero variance, no Monte Carlo error."
)
variance = {key: var for key, (var, _, _) in results_a.items()}
for point in ("away from posterior", "at posterior"):
    ref = variance[point, "reparameterized"]
    order = sorted((n for p, n in variance if p == point), key=lambda n: variance[point, n])
    say(
        f"{point.capitalize()}, from lowest to highest variance: "
        + ", ".join(f"{n} ({variance[point, n] / ref:.3g} x reparameterized)" for n in order)
        + "."
    )

# %%
# Variances relative to the reparameterized gradient, on a log axis with one label per decade.
# STL's variance at the posterior is zero up to float rounding: drawn at the axis' lower end.
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
points = ("away from posterior", "at posterior")
ratios = {
    key: variance[key] / variance[key[0], "reparameterized"] for key in variance if key[0] in points
}
low = 10 ** math.floor(math.log10(min(r for r in ratios.values() if r > 1e-6)) - 1)
high = 10 ** math.ceil(math.log10(max(ratios.values())) + 0.5)
for ax, point in zip(axes, points):
    names = [n for (p, n) in results_a if p == point]
    values = [ratios[point, n] for n in names]
    ax.barh(names, [max(v, low) for v in values], left=0, color="tab:blue")
    for i, v in enumerate(values):
        label = f"{v:.3g}" if v > low else "0 (exact, up to rounding)"
        ax.text(max(v, low) * 1.15, i, label, va="center", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_title(f"gradient variance, {point}")
    ax.set_xlabel("total variance / reparameterized (log scale)")
fig.tight_layout()
show(fig, "conjugate_variance.png")

# %% [markdown]
# The score function without a baseline pays for using only log q's derivative; baselines
# (a decaying mean, NVIL's learned b(x), the leave-one-out mean of a second sample) remove
# part of that gap. STL drops the score term whose expectation is zero, so at the posterior,
# where log p(x, z) - log q(z) no longer depends on z, its gradient has no variance at all.
#
# ## (b) Gradient SNR against the number of importance samples K
#
# First Rainforth et al.'s Gaussian example (their section 4): z ~ N(mu, I_20),
# x | z ~ N(z, I_20), and an amortized guide q(z | x) = N(A x + b, 2/3 I) whose parameters
# sit close to the optimum (A = I/2 plus small noise). The "encoder" is (A, b), the
# "decoder" mu; SNR is averaged over parameter entries.


# %%
class GaussianToy(nn.Module):
    def __init__(self, dim=20):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        noise = 0.01 * torch.randn(2, dim, generator=g, dtype=torch.float64)
        self.mu = nn.Parameter(torch.zeros(dim, dtype=torch.float64))
        self.A = nn.Parameter(0.5 + noise[0])
        self.b = nn.Parameter(noise[1])

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(self.mu, 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.A * x + self.b, (2 / 3) ** 0.5).to_event(1))


def snr_table(snr, ks):
    lines = [
        "| K | encoder SNR, reparam | encoder SNR, DReG | decoder SNR, reparam | "
        "decoder SNR, DReG |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for k in ks:
        r, d = snr["reparam", k], snr["dreg", k]
        lines.append(
            f"| {k} | {r['encoder']:.4f} | {d['encoder']:.4f} | {r['decoder']:.4f} | "
            f"{d['decoder']:.4f} |"
        )
    return "\n".join(lines)


def trend(values):
    """How a sequence moves: 'rises', 'falls' (monotonically) or 'is not monotonic'."""
    steps = [b - a for a, b in zip(values, values[1:])]
    return (
        "rises"
        if all(s > 0 for s in steps)
        else "falls"
        if all(s < 0 for s in steps)
        else ("is not monotonic")
    )


def describe_snr(snr, ks):
    """Sentences that read the SNR table: its trends in K and DReG's gain."""
    out = []
    for est, label in (("reparam", "reparameterized"), ("dreg", "DReG")):
        for group in ("encoder", "decoder"):
            v = [snr[est, k][group] for k in ks]
            out.append(
                f"{label}, {group}: {trend(v)} with K ({v[0]:.4f} at K = {ks[0]}, "
                f"{v[-1]:.4f} at K = {ks[-1]})"
            )
    gain = [snr["dreg", k]["encoder"] / snr["reparam", k]["encoder"] for k in ks]
    out.append(
        "DReG's encoder SNR / reparameterized: "
        + ", ".join(f"{g:.2f}x at K = {k}" for g, k in zip(gain, ks))
    )
    dec = max(abs(snr["dreg", k]["decoder"] / snr["reparam", k]["decoder"] - 1) for k in ks)
    out.append(f"the decoder's SNR differs between the two by at most {100 * dec:.2f} %")
    return "; ".join(out) + "."


toy = GaussianToy()
x_toy = 2**0.5 * torch.randn(1, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
R_T, KS_T = (10, (1, 5)) if SMOKE else (1000, (1, 5, 50, 500))
snr_toy = {}
for est in ("reparam", "dreg"):
    for k in KS_T:
        pyro.set_rng_seed(2)
        stats = gradient_variance(
            toy.model,
            toy.guide,
            IWAE_ELBO(k, estimator=est),
            x_toy,
            num_draws=R_T,
            params={"encoder": [toy.A, toy.b], "decoder": [toy.mu]},
        )
        snr_toy[est, k] = {g: s.mean_snr for g, s in stats.items()}
table_toy = snr_table(snr_toy, KS_T)
(OUT / "toy_snr.md").write_text(table_toy + "\n")
say(table_toy)
say(
    f"R = {R_T} draws. A gradient entry whose true mean is zero shows an SNR of about "
    f"sqrt(2 / pi) / sqrt(R) = {math.sqrt(2 / math.pi / R_T):.4f}, the floor of this table. "
    + describe_snr(snr_toy, KS_T)
)

# %% [markdown]
# Rainforth et al.'s result is that with the reparameterized gradient the encoder's SNR
# shrinks as K grows while the decoder's grows; Tucker et al.'s, that DReG makes the
# encoder's grow too. The sentence above says what this run found.
#
# Next a Gaussian VAE trained briefly on binarized MNIST: at fixed parameters and on a
# fixed minibatch, the IWAE gradient is drawn R times for each K and estimator.

# %%
root = os.environ.get("PYROGEN_DATA")
if SMOKE:
    x_train = load("digits", binarize="threshold", root=root).x[:300]
    x_test = load("digits", split="test", binarize="threshold", root=root).x[:100]
    hidden, z_dim, pre_steps, batch, R_B, KS = (32,), 4, 20, 10, 5, (1, 5)
else:
    x_train = load("binarized_mnist", root=root).x
    x_test = load("binarized_mnist", split="test", root=root).x
    x_test = x_test[torch.randperm(len(x_test), generator=torch.Generator().manual_seed(0))]
    hidden, z_dim, pre_steps, batch, R_B, KS = (200, 200), 20, 3000, 20, 1000, (1, 5, 10, 50)
x_shape = tuple(x_train.shape[1:])


def new_vae(seed=0):
    pyro.set_rng_seed(seed)
    return VAE(x_shape, z_dim=z_dim, hidden=hidden)


def train_steps(trainer, steps, batch_size=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(x_train), (batch_size,), generator=g)
        trainer.step(x_train[idx])


vae = new_vae()
train_steps(SVITrainer(vae, Trace_ELBO(), lr=1e-3), pre_steps)
groups = {
    "encoder": [p for n, p in vae.named_parameters() if not n.startswith("decoder")],
    "decoder": list(vae.decoder_net.parameters()),
}
x_b = x_train[:batch]
snr = {}
for est in ("reparam", "dreg"):
    for k in KS:
        pyro.set_rng_seed(1)
        stats = gradient_variance(
            vae.model, vae.guide, IWAE_ELBO(k, estimator=est), x_b, num_draws=R_B, params=groups
        )
        snr[est, k] = {g: s.mean_snr for g, s in stats.items()}

table_b = snr_table(snr, KS)
(OUT / "vae_snr.md").write_text(table_b + "\n")
say(table_b)
say(
    f"MLP {'-'.join(map(str, (math.prod(x_shape), *hidden, z_dim)))}, trained {pre_steps} "
    f"steps of batch 100 with the ELBO; one fixed minibatch of {batch} training images, "
    f"R = {R_B} draws. " + describe_snr(snr, KS)
)

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, group in zip(axes, ("encoder", "decoder")):
    for est, style in (("reparam", "o-"), ("dreg", "s--")):
        ax.plot(KS, [snr[est, k][group] for k in KS], style, label=est)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("K (importance samples)")
    ax.set_ylabel("mean SNR = |mean| / std")
    ax.set_title(f"{group} gradient")
    ax.legend()
fig.tight_layout()
show(fig, "vae_snr.png")

# %% [markdown]
# DReG changes only the encoder's gradient, so the decoder's SNR is the same for both
# estimators up to Monte Carlo noise. How fast each curve moves with K depends on how close
# q is to the posterior: the asymptotic rates (1/sqrt(K) for reparam, sqrt(K) for DReG in
# the toy above) need K large enough that the normalized weights are not dominated by one
# particle, which for a briefly trained VAE can take far more importance samples than used
# here.
#
# ## (c) Training curves at equal steps and at equal wall-clock time
#
# Each estimator trains the same VAE from the same initialization on the same sequence of
# minibatches (batch 100, Adam at 1e-3), and the test bound (IWAE on held-out images) is
# recorded along the way; evaluation time is not counted. Two comparisons answer two
# questions: **at equal steps**, what each step's gradient buys; **at equal time**, what a
# second of computation buys, which also counts how fast each estimator's step is.
#
# Step speed differs by implementation, not only by estimator: for the built-in `VAE`,
# `SVITrainer` evaluates `Trace_ELBO` and the reparameterized `IWAE_ELBO` straight from
# the networks with a hand-derived gradient (the fast path), while STL, DReG and the score
# function run through Pyro's traces. `trainer.path` says which implementation ran; the
# table lists it with each estimator's step count and speed.

# %%
STEPS = 20 if SMOKE else 3000
SECONDS = 1.0 if SMOKE else 120.0
EVAL_K, n_eval = (5, 50) if SMOKE else (50, 500)
x_eval = x_test[:n_eval]
train_estimators = {
    "ELBO, reparameterized": lambda: Trace_ELBO(),
    "ELBO, STL": lambda: STL_ELBO(),
    "ELBO, score function + NVIL": None,
    "IWAE K=5, reparam": lambda: IWAE_ELBO(5),
    "IWAE K=5, DReG": lambda: IWAE_ELBO(5, estimator="dreg"),
}


def new_trainer(name):
    model = new_vae()
    if train_estimators[name] is None:
        model.baseline = NVILBaseline(x_shape)  # attached: the trainer optimizes it too
        loss = ScoreFunction_ELBO(baseline="nvil", baseline_net=model.baseline)
    else:
        loss = train_estimators[name]()
    return model, SVITrainer(model, loss, lr=1e-3)


def train(name, budget, by):
    """Trains until ``budget`` steps (by="steps") or seconds (by="seconds") are spent.

    Returns the curve [(steps, seconds, test bound)] at 11 evenly spaced checkpoints, and
    the trainer (for its path).
    """
    model, trainer = new_trainer(name)
    evaluate = IWAE_ELBO(EVAL_K)
    g = torch.Generator().manual_seed(0)
    steps, elapsed, curve = 0, 0.0, []
    marks = [budget * i / 10 for i in range(11)]
    while marks:
        if (steps if by == "steps" else elapsed) >= marks[0]:
            with torch.no_grad():
                bound = -evaluate.loss(model.model, model.guide, x_eval) / n_eval
            curve.append((steps, elapsed, bound))
            marks.pop(0)
            continue
        start = time.perf_counter()
        trainer.step(x_train[torch.randint(len(x_train), (100,), generator=g)])
        elapsed += time.perf_counter() - start
        steps += 1
    return curve, trainer


runs = {}
for name in train_estimators:
    by_steps, trainer = train(name, STEPS, "steps")
    by_time, _ = train(name, SECONDS, "seconds")
    runs[name] = {"steps": by_steps, "time": by_time, "path": trainer.path}

lines = [
    f"| estimator | path | bound after {STEPS} steps | seconds for {STEPS} steps | steps / s "
    f"| steps in {SECONDS:g} s | bound after {SECONDS:g} s |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
for name, run in runs.items():
    s_steps, s_time, s_bound = run["steps"][-1]
    t_steps, _, t_bound = run["time"][-1]
    lines.append(
        f"| {name} | {run['path']} | {s_bound:.2f} | {s_time:.3g} | {s_steps / s_time:.0f} | "
        f"{t_steps} | {t_bound:.2f} |"
    )
table_c = "\n".join(lines)
(OUT / "training.md").write_text(table_c + "\n")
say(table_c)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
for name, run in runs.items():
    axes[0].plot([p[0] for p in run["steps"]], [p[2] for p in run["steps"]], ".-", label=name)
    axes[1].plot([p[1] for p in run["time"]], [p[2] for p in run["time"]], ".-", label=name)
axes[0].set_xlabel("training steps")
axes[0].set_title(f"equal steps ({STEPS} each)")
axes[1].set_xlabel("training time (s)")
axes[1].set_title(f"equal wall-clock time ({SECONDS:g} s each)")
axes[0].set_ylabel(f"test IWAE bound, K = {EVAL_K} (nats per image)")
for ax, kind in zip(axes, ("steps", "time")):
    # the untrained starting point (shared by all) is far below: zoom on the rest
    later = [p[2] for run in runs.values() for p in run[kind][1:]]
    lo, hi = min(later), max(later)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=8)
fig.tight_layout()
show(fig, "training_curves.png")


# %%
def ranking(kind):
    order = sorted(runs, key=lambda n: -runs[n][kind][-1][2])
    return ", ".join(f"{n} ({runs[n][kind][-1][2]:.2f})" for n in order)


fast = [n for n, run in runs.items() if run["path"] != "pyro"]
slow = [n for n, run in runs.items() if run["path"] == "pyro"]
speed = {n: run["steps"][-1][0] / run["steps"][-1][1] for n, run in runs.items()}
say(
    f"Test bound (K = {EVAL_K}, {n_eval} held-out images), best first. After {STEPS} steps: "
    f"{ranking('steps')}. After {SECONDS:g} s: {ranking('time')}. "
    f"On the fast path: {', '.join(fast) or 'none'}; through Pyro's traces: "
    f"{', '.join(slow) or 'none'}. The fastest step was "
    f"{max(speed.values()) / min(speed.values()):.1f} times the slowest."
)

# %% [markdown]
# Wall-clock comparisons depend on the machine, on its load and on which implementation
# runs, so read the equal-time panel as one measurement on one machine; the equal-step
# panel compares the estimators themselves.
#
# ## References
#
# * Auto-Encoding Variational Bayes, D. P. Kingma, M. Welling, 2014.
#   https://arxiv.org/abs/1312.6114
# * Neural Variational Inference and Learning in Belief Networks, A. Mnih, K. Gregor, 2014.
#   https://arxiv.org/abs/1402.0030
# * Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016.
#   https://arxiv.org/abs/1509.00519
# * Sticking the Landing, G. Roeder, Y. Wu, D. Duvenaud, 2017.
#   https://arxiv.org/abs/1703.09194
# * Tighter Variational Bounds are Not Necessarily Better, T. Rainforth et al., 2018.
#   https://arxiv.org/abs/1802.04537
# * Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives, G. Tucker,
#   D. Lawson, S. Gu, C. J. Maddison, 2019. https://arxiv.org/abs/1810.04152
