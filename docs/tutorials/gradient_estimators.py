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
# * **(c)** training curves per estimator at equal wall-clock time.
#
# Every estimator is a `pyro.infer.ELBO` subclass from `pyrogen.infer`, and
# `pyrogen.infer.gradient_variance` repeats any of them R times at fixed parameters.

# %%
import math
import os
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO
from torch import nn

from pyrogen.data import load
from pyrogen.infer import (
    IWAE_ELBO,
    STL_ELBO,
    NVILBaseline,
    ScoreFunction_ELBO,
    SVITrainer,
    gradient_variance,
)
from pyrogen.models import VAE

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="estimators_"))
OUT.mkdir(parents=True, exist_ok=True)
pyro.settings.set(module_local_params=True)
torch.set_num_threads(int(os.environ.get("PYROGEN_THREADS", "1")))
pyro.set_rng_seed(0)

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
R_A = 20 if SMOKE else 2000


def make_estimators(m):
    base = NVILBaseline((), hidden=(16,), normalize=False).double()
    nvil = ScoreFunction_ELBO(baseline="nvil", baseline_net=base)
    # NVIL's network learns to predict the signal from x: fit it at the fixed guide first.
    opt = torch.optim.Adam(base.parameters(), lr=0.02)
    for _ in range(10 if SMOKE else 400):
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
        # largest |bias| in units of its standard error; |z| > 4 would flag a biased estimator
        # (undefined where the estimator has no variance at all: STL at the posterior)
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
print(table_a)
(OUT / "conjugate_variance.md").write_text(table_a + "\n")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, point in zip(axes, ("away from posterior", "at posterior")):
    names = [n for (p, n) in results_a if p == point]
    var = [max(results_a[point, n][0], 1e-12) for n in names]
    ax.barh(names, var)
    ax.set_xscale("log")
    ax.set_title(f"gradient variance, {point}")
    ax.set_xlabel("total variance of the guide's gradient (floored at 1e-12)")
fig.tight_layout()
fig.savefig(OUT / "conjugate_variance.png", dpi=120)
plt.close(fig)

# %% [markdown]
# All estimators agree with the closed-form gradient within Monte Carlo error (the bias is
# a few standard errors at most). Their variances differ: the score function without a
# baseline is far worse than the reparameterized gradient; a decaying-mean baseline, NVIL's
# learned baseline and the leave-one-out baseline (which spends two samples) each remove a
# large part of the gap; STL has lower variance than the reparameterized gradient everywhere
# and none at all at the posterior, where log p(x, z) - log q(z) no longer depends on z.
#
# ## (b) Gradient SNR of a VAE against the number of importance samples
#
# A Gaussian VAE is trained briefly on binarized MNIST; then, at fixed parameters and on a
# fixed minibatch, the IWAE gradient is drawn R times for each K and estimator, and the
# mean SNR over each network's parameters is recorded.

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
        print(
            f"{est:>7} K={k:<3} encoder SNR {snr[est, k]['encoder']:.4f}"
            f"  decoder SNR {snr[est, k]['decoder']:.4f}",
            flush=True,
        )

lines = [
    "| K | encoder SNR, reparam | encoder SNR, DReG | decoder SNR, reparam | decoder SNR, DReG |",
    "| ---: | ---: | ---: | ---: | ---: |",
]
for k in KS:
    lines.append(
        f"| {k} | {snr['reparam', k]['encoder']:.4f} | {snr['dreg', k]['encoder']:.4f} | "
        f"{snr['reparam', k]['decoder']:.4f} | {snr['dreg', k]['decoder']:.4f} |"
    )
table_b = "\n".join(lines)
print(table_b)
(OUT / "vae_snr.md").write_text(table_b + "\n")

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
fig.savefig(OUT / "vae_snr.png", dpi=120)
plt.close(fig)

# %% [markdown]
# With the reparameterized IWAE gradient the encoder's SNR decreases as K grows, while the
# decoder's increases (Rainforth et al. 2018, Theorem 1). DReG gives the decoder the same
# gradient, but the encoder's SNR now increases with K (Tucker et al. 2019, Figure 1).
#
# ## (c) Training curves at equal wall-clock time
#
# Each estimator trains the same VAE from the same initialization for the same number of
# seconds; the test bound (IWAE with K = 50 on held-out images) is recorded along the way.
# Evaluation time is not counted.

# %%
SECONDS = 1.0 if SMOKE else 120.0
EVAL_K, n_eval = (5, 50) if SMOKE else (50, 500)
x_eval = x_test[:n_eval]
train_estimators = {
    "ELBO, reparameterized": Trace_ELBO(),
    "ELBO, STL": STL_ELBO(),
    "ELBO, score function + NVIL": "nvil",
    "IWAE K=5, reparam": IWAE_ELBO(5),
    "IWAE K=5, DReG": IWAE_ELBO(5, estimator="dreg"),
}
curves = {}
for name, loss in train_estimators.items():
    model = new_vae()
    if loss == "nvil":
        model.baseline = NVILBaseline(x_shape)  # attached: the trainer optimizes it too
        loss = ScoreFunction_ELBO(baseline="nvil", baseline_net=model.baseline)
    trainer = SVITrainer(model, loss, lr=1e-3)
    evaluate = IWAE_ELBO(EVAL_K)
    g = torch.Generator().manual_seed(0)
    elapsed, points, checkpoints = 0.0, [], [SECONDS * i / 10 for i in range(11)]
    while True:
        if elapsed >= checkpoints[0]:
            with torch.no_grad():
                bound = -evaluate.loss(model.model, model.guide, x_eval) / n_eval
            points.append((elapsed, bound))
            checkpoints.pop(0)
            if not checkpoints:
                break
        start = time.perf_counter()
        trainer.step(x_train[torch.randint(len(x_train), (100,), generator=g)])
        elapsed += time.perf_counter() - start
    curves[name] = points
    print(f"{name}: test IWAE-{EVAL_K} bound {points[-1][1]:.2f} nats after {SECONDS:.0f} s")

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, points in curves.items():
    ax.plot(*zip(*points), marker=".", label=name)
ax.set_xlabel("training time (s)")
ax.set_ylabel(f"test IWAE bound, K = {EVAL_K} (nats per image)")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(OUT / "training_curves.png", dpi=120)
plt.close(fig)
print("figures in", OUT)

# %% [markdown]
# Per second of CPU time, the cheap reparameterized estimators (ELBO, STL) make the most
# progress early on; the K-sample estimators pay K times the decoder cost per step for a
# tighter bound, and the score-function estimator, even with NVIL's baseline, trails far
# behind: its variance, measured in (a), is what the reparameterization trick removes.
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
