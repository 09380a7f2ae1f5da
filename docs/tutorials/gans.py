# %% [markdown]
# # GANs in Pyro
#
# A GAN's generator is an implicit model: it can be sampled but has no tractable density.
# pyrogen writes it in Pyro syntax, `z = pyro.sample("z", N(0, I))` and
# `x = pyro.deterministic("x", G(z))`, and trains it against a critic with
# `AdversarialSVI`, the two-player counterpart of SVI. This tutorial
#
# 1. checks the theory: a trained discriminator approaches d*(x) = p(x) / (p(x) + q(x)) and
#    the minimax value approaches 2 JS(p, q) - log 4 (Goodfellow et al. 2014, Theorem 1);
# 2. shows mode collapse on the ring of 8 Gaussians for the minimax, non-saturating,
#    WGAN-GP and unrolled (Metz et al. 2017) objectives, with the coverage metric;
# 3. trains a DCGAN on MNIST and measures it with FID and the classifier two-sample test;
# 4. traverses the latent codes of an InfoGAN.
#
# Run it as a script; `PYROGEN_SMOKE=1` selects a tiny run (seconds instead of minutes).

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
from scipy import integrate, stats

from pyrogen import plots
from pyrogen.data import eight_gaussians, eight_gaussians_centers, load
from pyrogen.infer import AdversarialSVI, fit, make_gan_trainer
from pyrogen.metrics import c2st, fid, load_or_train_classifier, mode_coverage
from pyrogen.models import Discriminator, Generator, InfoGANDiscriminator, InfoGANGenerator
from pyrogen.objectives import GANLoss

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "gans_output")
OUT.mkdir(parents=True, exist_ok=True)
pyro.settings.set(module_local_params=True)
pyro.set_rng_seed(0)

NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show the figures inline


def show(path):
    """Shows a saved figure when run as a notebook."""
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


# %% [markdown]
# ## The generator is a Pyro model
# Its trace has a latent sample site `"z"` and a deterministic site `"x"` in the data plate,
# so it can be conditioned, replayed and inspected like any Pyro model.

# %%
g = Generator((2,), z_dim=16, hidden=(128, 128))
print(pyro.poutine.trace(g.model).get_trace(num_samples=4).format_shapes())

# %% [markdown]
# ## The optimal discriminator
# Train only the discriminator between p = N(0, 1) (data) and q = N(1.5, 0.6^2) (a fixed
# "generator"). The minimax critic loss is binary cross-entropy, minimized by
# d*(x) = p / (p + q), where the value E_p log d + E_q log(1 - d) equals 2 JS - log 4.

# %%
p, q = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.5, 0.6)
loss = GANLoss("minimax")
critic = Discriminator((1,), hidden=(32, 32), act="tanh")
opt = torch.optim.Adam(critic.parameters(), lr=1e-2)
for _ in range(30 if SMOKE else 600):
    real, fake = p.sample((256, 1)), q.sample((256, 1))
    d_loss = loss.discriminator_loss(critic(real), critic(fake))
    opt.zero_grad()
    d_loss.backward()
    opt.step()

xs = torch.linspace(-3, 4, 200)[:, None]
with torch.no_grad():
    d = torch.sigmoid(critic(xs))
    value = float(loss.value(critic(p.sample((100000, 1))), critic(q.sample((100000, 1)))))
pd, qd = p.log_prob(xs[:, 0]).exp(), q.log_prob(xs[:, 0]).exp()
sp, sq = stats.norm(0, 1), stats.norm(1.5, 0.6)


def _js_integrand(x):
    a, b = sp.pdf(x), sq.pdf(x)
    m = (a + b) / 2
    return 0.5 * a * math.log(a / m) + 0.5 * b * math.log(b / m)


js = integrate.quad(_js_integrand, -12, 12, limit=200)[0]
print(f"value {value:.4f}  vs  2 JS - log 4 = {2 * js - math.log(4):.4f}")
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(xs[:, 0], pd / (pd + qd), label="p / (p + q)")
ax.plot(xs[:, 0], d, "--", label="trained D")
ax.legend()
fig.savefig(OUT / "optimal_discriminator.png", dpi=100)
show(OUT / "optimal_discriminator.png")
plt.close(fig)

# %% [markdown]
# ## Mode collapse on the ring of 8 Gaussians
# Same generator and critic (two hidden layers of 128 ReLU units), same optimizer, four
# objectives. The minimax and non-saturating games are known to chase one or a few modes at
# a time, and the Wasserstein critic with gradient penalty and the unrolled critic (the
# generator sees K = 5 look-ahead critic updates) were proposed to spread the samples over
# more modes (Gulrajani et al. 2017, Metz et al. 2017). We plot samples along training and
# count the modes covered and the high-quality samples (within 3 std of a mode): the table
# says what this one run did, with this step budget and these learning rates.

# %%
CENTERS, STD = eight_gaussians_centers(), 0.02
STEPS = 8 if SMOKE else 3000
SNAPSHOTS = 4


def toy_trainer(kind, unrolled=0):
    def adam(params):
        return torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.9))

    return AdversarialSVI(
        Generator((2,), z_dim=16, hidden=(128, 128)),
        Discriminator((2,), hidden=(128, 128)),
        GANLoss(kind, unrolled_steps=unrolled),
        adam,
        adam,
        n_critic=5 if kind == "wgan-gp" else 1,
    )


configs = {
    "minimax": ("minimax", 0),
    "non-saturating": ("nonsaturating", 0),
    "WGAN-GP": ("wgan-gp", 0),
    "unrolled K=5": ("nonsaturating", 5),
}
fig, axes = plt.subplots(len(configs), SNAPSHOTS, figsize=(2.2 * SNAPSHOTS, 2.2 * len(configs)))
coverage = {}
for row, (name, (kind, unrolled)) in enumerate(configs.items()):
    pyro.set_rng_seed(0)
    trainer, gen = toy_trainer(kind, unrolled), torch.Generator().manual_seed(0)
    for step in range(1, STEPS + 1):
        trainer.step(eight_gaussians(256, generator=gen))
        if step % (STEPS // SNAPSHOTS) == 0:
            col = step // (STEPS // SNAPSHOTS) - 1
            s = trainer.module.sample(1000)
            ax = axes[row, col]
            ax.scatter(s[:, 0], s[:, 1], s=1, alpha=0.4)
            ax.scatter(CENTERS[:, 0], CENTERS[:, 1], s=12, c="red", marker="x")
            ax.set(xlim=(-3, 3), ylim=(-3, 3), xticks=[], yticks=[])
            ax.set_title(f"{name}, step {step}", fontsize=7)
    coverage[name] = mode_coverage(trainer.module.sample(2500), CENTERS, STD)
fig.tight_layout()
fig.savefig(OUT / "mode_collapse.png", dpi=100)
show(OUT / "mode_collapse.png")
plt.close(fig)
print("| loss | modes (of 8) | high-quality fraction |")
for name, cov in coverage.items():
    print(f"| {name} | {cov['modes']:.0f} | {cov['quality']:.3f} |")

# %% [markdown]
# One run per objective is an anecdote; `benchmarks/gan_coverage.py` repeats this for more
# losses on the 8- and 25-Gaussian toys and `benchmarks/results/gan_coverage.md` holds the
# table.
#
# ## DCGAN on MNIST, measured by FID and C2ST
# The DCGAN networks (Radford et al. 2016) come from `make_gan_trainer`, which also picks
# the paper's Adam(2e-4, betas=(0.5, 0.999)); `fit` trains them like any other stepper.
# Offline there is no Inception network, so FID and the classifier two-sample test are
# computed in the 64-d features of a small classifier trained on the training set; the
# same metrics between two halves of the test set give the floor.

# %%
if SMOKE:
    train, test = load("digits", "train"), load("digits", "test")
    n_train, epochs, n_eval = 128, 1, 200
else:
    root = os.environ.get("PYROGEN_DATA")
    train, test = load("mnist", "train", root=root), load("mnist", "test", root=root)
    n_train, epochs, n_eval = 10000, 2, 1000
clf = load_or_train_classifier(
    train.x[:20000], train.y[:20000], OUT / "cache", name=train.name, epochs=1 if SMOKE else 2
)
dcgan = make_gan_trainer(train.x.shape[1:], "nonsaturating", z_dim=64, width=32)
history = fit(dcgan, train.x[:n_train], epochs=epochs, batch_size=64, progress=False)
dcgan.module.eval()
samples = dcgan.module.sample(n_eval)
reference, other = test.x[:n_eval], test.x[n_eval : 2 * n_eval]
for label, xs_ in (("DCGAN samples", samples), ("test images (floor)", other)):
    f_a, f_b = clf.features(xs_), clf.features(reference)
    print(f"{label}: FID {float(fid(f_a, f_b)):.2f}, C2ST {c2st(f_a, f_b):.3f}")
show(plots.save_image_grid(samples[:64], OUT / "dcgan_samples.png", title="DCGAN samples"))

# %% [markdown]
# ## InfoGAN latent traversals
# The InfoGAN generator adds a 10-way categorical code and two uniform codes as Pyro sample
# sites; its critic has a Q head, and both maximize the mutual-information bound L_I
# (Chen et al. 2016). Each row below fixes the category, each column sweeps the first
# continuous code from -1 to 1, with the noise z held fixed.

# %%
pyro.set_rng_seed(0)
info_g = InfoGANGenerator(train.x.shape[1:], z_dim=62, arch="dcgan", channels=(64, 32))
info_d = InfoGANDiscriminator(train.x.shape[1:], arch="dcgan", channels=(32, 64))
info = AdversarialSVI(info_g, info_d, "nonsaturating")
history = fit(info, train.x[:n_train], epochs=epochs, batch_size=64, progress=False)
print(f"mutual-information bound L_I after training: {history[-1]['train_mi']:.3f} nats")
info_g.eval()
steps = 8
z = torch.randn(1, 62).expand(10 * steps, -1)
category = torch.arange(10).repeat_interleave(steps)
c_cont = torch.zeros(10 * steps, 2)
c_cont[:, 0] = torch.linspace(-1, 1, steps).repeat(10)
show(
    plots.save_image_grid(
        info_g.traverse(z, category, c_cont), OUT / "infogan_traversal.png", nrow=8
    )
)
print("figures in", OUT)
