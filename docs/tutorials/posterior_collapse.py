# %% [markdown]
# # Posterior collapse
#
# A VAE's ELBO is E_q log p(x | z) - KL(q(z | x) || p(z)). When the decoder can model the
# data on its own, the cheapest solution sets q(z | x) = p(z): the KL is 0 and z carries no
# information (posterior collapse). We reproduce the lecture's toy example, the
# Variational Lossy Autoencoder's remedy of a restricted decoder, and the remedies that
# change the objective (KL warm-up, free bits, beta < 1).
#
# Latent usage is measured by **active units** (Burda et al. 2016): unit u is active when
# Cov_x(E_q[z_u | x]) > 0.01, and by the **ELBO surgery** (Hoffman & Johnson 2016):
# the average KL = KL(q(z) || p(z)) + I[i, z], with q(z) the aggregate posterior. Both are
# computed inline below with a few lines each.

# %%
import math
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pyro
import torch

from pyrogen.data import collapse_gaussian, load, template_sequences
from pyrogen.infer import SVITrainer
from pyrogen.models import VAE, LinearGaussianVAE, WindowedARVAE
from pyrogen.objectives import BetaELBO, FreeBitsELBO, LinearWarmup

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "posterior_collapse_output")
OUT.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)
pyro.settings.set(module_local_params=True)
pyro.set_rng_seed(0)

NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show the figures inline


def show(path):
    """Shows a saved figure when run as a notebook."""
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


def unit_activity(loc: torch.Tensor) -> torch.Tensor:
    """Cov_x(E_q[z_u | x]) per unit, from the encoder means (N, D)."""
    return loc.var(0)


def surgery(loc: torch.Tensor, scale: torch.Tensor) -> dict[str, float]:
    """avg KL, I[i, z] (one z per i, aggregate posterior over the batch), marginal KL."""
    z = loc + scale * torch.randn_like(loc)
    log_q = torch.distributions.Normal(loc[None], scale[None]).log_prob(z[:, None]).sum(-1)
    mi = float((log_q.diagonal() - (log_q.logsumexp(1) - math.log(len(loc)))).mean())
    avg_kl = float((0.5 * (loc**2 + scale**2 - 1) - scale.log()).sum(-1).mean())
    return {"avg KL": avg_kl, "I[i,z]": mi, "KL(q(z)||p(z))": avg_kl - mi}


# %% [markdown]
# ## The toy: pi(x) = N(mu, Sigma), Gaussian decoder with diagonal covariance
# `collapse_gaussian(rank=0)` has a diagonal Sigma; `rank=r` adds a rank-r covariance W W^T.
# `LinearGaussianVAE` has p(x | z) = N(W z + b, sigma^2 I) and q(z | x) = N(V x + c, diag s^2);
# its ELBO is in closed form, so we maximize it by full-batch gradient ascent. (With
# `exact_moments=True` the sample has exactly the population mean and covariance, so no
# spurious correlation gives the latents something to explain.)

# %%
steps = 200 if SMOKE else 1500
dim, z_dim = 6, 4


def fit_linear(x: torch.Tensor, isotropic: bool = True) -> tuple[list[float], LinearGaussianVAE]:
    torch.manual_seed(0)
    vae = LinearGaussianVAE(dim, z_dim, isotropic=isotropic).double()
    opt = torch.optim.Adam(vae.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    kls = []
    for _ in range(steps):
        opt.zero_grad()
        (-vae.elbo(x).mean()).backward()
        opt.step()
        sched.step()
        kls.append(float(vae.kl(x).detach().sum(-1).mean()))
    return kls, vae


results = {}
for rank in (0, 1, 2, 3):
    gen = torch.Generator().manual_seed(1)
    x = collapse_gaussian(500, dim, rank, generator=gen, exact_moments=True).double()
    kls, vae = fit_linear(x)
    with torch.no_grad():
        activity = unit_activity(vae.encode(x)[0])
    results[rank] = (kls, activity)
    print(
        f"rank {rank}: active units {int((activity > 0.01).sum())}, final KL {kls[-1]:.4f}, "
        f"Cov(E[z_u]) = {activity.numpy().round(4)}"
    )

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for rank, (kls, activity) in results.items():
    label = "diagonal Sigma" if rank == 0 else f"rank-{rank} Sigma"
    axes[0].plot(kls, label=label)
    bars = activity.clamp_min(1e-4).numpy()  # log axis: show collapsed units at the floor
    axes[1].bar(torch.arange(z_dim) + 0.2 * rank - 0.3, bars, width=0.2, label=label)
axes[0].set(
    xlabel="step",
    ylabel="KL(q(z|x) || p(z)) (nats)",
    yscale="log",
    title="diagonal Sigma: the KL goes to 0",
)
axes[1].axhline(0.01, color="k", ls="--", lw=0.8)
axes[1].set(
    xlabel="latent unit",
    ylabel="Cov_x(E_q[z_u])",
    yscale="log",
    ylim=(1e-4, 2),
    title="active units = rank of the off-diagonal part",
)
axes[0].legend()
fig.tight_layout()
fig.savefig(OUT / "collapse_toy.png", dpi=100)
show(OUT / "collapse_toy.png")

# %% [markdown]
# With a diagonal Sigma the decoder's own variance models every coordinate: the ELBO
# reaches the data's log-likelihood with q(z | x) = p(z), so every unit collapses. With a
# rank-r off-diagonal part, correlations can only come through z, and exactly r units become
# active. (The collapsed optimum is degenerate: the ELBO is flat to fourth order around it,
# which is why the KL decays slowly rather than exponentially. With one decoder variance per
# coordinate, `isotropic=False`, the optimum is not even unique: part of each coordinate's
# variance may move into a latent at no cost in the ELBO.)
#
# ## The MLP VAE with a learned-variance Gaussian decoder
# The same data through `VAE(likelihood="gaussian")`: an MLP decoder emitting a mean and a
# variance per coordinate, trained by SVI with the reparameterized ELBO.

# %%
for rank in (0, 2):
    gen = torch.Generator().manual_seed(1)
    x = collapse_gaussian(1000, dim, rank, generator=gen, exact_moments=True)
    pyro.set_rng_seed(0)
    mlp = VAE((dim,), z_dim=z_dim, hidden=(32, 32), likelihood="gaussian")
    trainer = SVITrainer(mlp, loss=BetaELBO(kl="closed_form"), lr=3e-3)
    for _step in range(100 if SMOKE else 3000):
        trainer.step(x[torch.randint(0, len(x), (100,))])
    with torch.no_grad():
        loc, scale = mlp.encode(x)
    active = int((unit_activity(loc) > 0.01).sum())
    print(f"MLP VAE, rank {rank}: active units {active}, {surgery(loc, scale)}")

# %% [markdown]
# ## A small VLAE: autoregressive decoders with full and restricted context
# Sequences of 24 bits copy one of 4 random templates, with 5% of the bits flipped. The
# template is a global property. `WindowedARVAE` decodes p(x_i | z, x_{i-w..i-1}): with the
# full prefix (w = L) the decoder infers the template from the bits already seen and has no
# use for z; with a window of 2 it cannot, and the template has to be stored in z.

# %%
gen = torch.Generator().manual_seed(0)
seqs = template_sequences(2000, generator=gen)
held_out = template_sequences(500, generator=gen)
vlae = {}
for window in (None, 2):
    pyro.set_rng_seed(0)
    model = WindowedARVAE(24, z_dim=4, window=window)
    trainer = SVITrainer(model, lr=2e-3)
    for _step in range(100 if SMOKE else 1500):
        trainer.step(seqs[torch.randint(0, len(seqs), (100,))])
    with torch.no_grad():
        loc, scale = model.encode(held_out)
        nelbo = float(trainer.evaluate(held_out)["loss"])
    name = "full context" if window is None else f"window {window}"
    vlae[name] = surgery(loc, scale)
    active = int((unit_activity(loc) > 0.01).sum())
    print(f"{name}: -ELBO {nelbo:.2f} nats, active units {active}, {vlae[name]}")
print(
    f"I[i, z]: full context {vlae['full context']['I[i,z]']:.2f} nats, window 2 "
    f"{vlae['window 2']['I[i,z]']:.2f} nats; the template's identity is log 4 = "
    f"{math.log(4):.2f} nats"
)

# %% [markdown]
# A full-context decoder can ignore z (KL close to 0); the windowed decoder has to store the
# template's identity in z, so its index-code mutual information I[i, z] should approach
# log 4, the information in a choice among 4 templates. The last line above compares them.
#
# ## Remedies in the objective
# `pyrogen.objectives` has `BetaELBO` (with `LinearWarmup`, a KL warm-up from beta = 0 to 1, or
# a constant beta < 1; `kl="closed_form"` for the closed-form KL) and `FreeBitsELBO`
# (Kingma et al. 2016: each unit's batch-averaged KL is clamped from below at lambda nats).
# Here on scikit-learn's 8x8 digits, thresholded to
# binary; `benchmarks/collapse_remedies.py` runs the same comparison on binarized MNIST.

# %%
digits = (load("digits").x > 0.5).float()
steps = 60 if SMOKE else 3000
objectives = {
    "ELBO": BetaELBO(kl="closed_form"),
    "KL warm-up": BetaELBO(LinearWarmup(steps // 2), kl="closed_form"),
    "free bits 0.25": FreeBitsELBO(free_bits=0.25),
    "beta = 0.5": BetaELBO(0.5, kl="closed_form"),
}
rows = {}
for name, objective in objectives.items():
    pyro.set_rng_seed(0)
    vae = VAE((1, 8, 8), z_dim=16, hidden=(128, 128))
    trainer = SVITrainer(vae, loss=objective, lr=1e-3)
    for _step in range(steps):
        trainer.step(digits[torch.randint(0, len(digits), (100,))])
    with torch.no_grad():
        loc, scale = vae.encode(digits)
        elbo = -pyro.infer.TraceMeanField_ELBO().loss(vae.model, vae.guide, digits) / len(digits)
    rows[name] = (int((unit_activity(loc) > 0.01).sum()), elbo, surgery(loc, scale))
    print(f"{name:>15}: active units {rows[name][0]:2d}/16, ELBO {elbo:.2f}, {rows[name][2]}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(rows)
ax.bar(names, [rows[n][2]["I[i,z]"] for n in names], label="I[i, z]")
ax.bar(
    names,
    [rows[n][2]["KL(q(z)||p(z))"] for n in names],
    bottom=[rows[n][2]["I[i,z]"] for n in names],
    label="KL(q(z) || p(z))",
)
ax.set(ylabel="nats", title="ELBO surgery of the average KL")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "remedies_surgery.png", dpi=100)
show(OUT / "remedies_surgery.png")
