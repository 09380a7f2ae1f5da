# %% [markdown]
# # Autoregressive models in Pyro
#
# An autoregressive model writes a density with the chain rule,
# p(x) = prod_d p(x_d | x_<d), and lets a network produce every conditional. pyrogen's
# autoregressive families are at once **Pyro distributions** (`pyro.sample("x", m, obs=x)`
# scores data with one parallel network pass; an unobserved site generates position by
# position) and **model/guide pairs** (an empty guide, so SVI is maximum likelihood).
#
# This tutorial
# 1. fits the simplest case, a linear Gaussian AR(p) process, by SVI and checks it against
#    the least-squares solution;
# 2. shows causality by gradient, and the blind spot of PixelCNN that Gated PixelCNN removes;
# 3. trains a class-conditional Gated PixelCNN on binarized digits inside a hand-written
#    Pyro model, and draws samples per class;
# 4. times naive against cached generation.

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
import torch
from pyro.infer import Trace_ELBO

from pyrogen import plots
from pyrogen.data import load
from pyrogen.models import GatedPixelCNN, LinearGaussianAR, PixelCNN
from pyrogen.models.ar_process import least_squares

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "autoregressive_output")
OUT.mkdir(parents=True, exist_ok=True)
pyro.settings.set(module_local_params=True)
pyro.set_rng_seed(0)
torch.set_num_threads(1)

NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show the figures inline


def show(path):
    """Shows a saved figure when run as a notebook."""
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


# %% [markdown]
# ## 1. AR(p): maximum likelihood is least squares
# x_t = c + a_1 x_{t-1} + a_2 x_{t-2} + sigma eps_t. Training the model/guide pair with
# `Trace_ELBO` maximizes the exact log-likelihood; with values before the start taken as
# zero, its maximizer is the least-squares regression of x_t on (1, x_{t-1}, x_{t-2}).

# %%
T = 200
g = torch.Generator().manual_seed(0)
x = torch.zeros(8, T)
for t in range(T):
    past = x[:, max(t - 2, 0) : t].flip(-1)
    x[:, t] = 0.3 + past @ torch.tensor([0.6, -0.3])[: past.shape[1]]
    x[:, t] += 0.5 * torch.randn(8, generator=g)

ar = LinearGaussianAR(T, order=2)
opt = torch.optim.Adam(ar.parameters(), lr=0.05)
for _ in range(100 if SMOKE else 600):
    opt.zero_grad()
    loss = Trace_ELBO().differentiable_loss(ar.model, ar.guide, x)
    loss.backward()
    opt.step()
a, c, sigma = least_squares(x, 2)
print(
    "SVI:           a =",
    ar.coef.data.numpy().round(3),
    "c =",
    round(ar.intercept.item(), 3),
    "sigma =",
    round(ar.log_scale.exp().item(), 3),
)
print(
    "least squares: a =",
    a.numpy().round(3),
    "c =",
    round(float(c), 3),
    "sigma =",
    round(float(sigma), 3),
)

# %% [markdown]
# ## 2. Causality, and PixelCNN's blind spot
# `m(x)` returns the parameters of every conditional. Causality means
# d m(x)[i] / d x[j] = 0 for every j at or after i. Below, the gradient of one output pixel
# with respect to the input image: PixelCNN's stacked masked 3x3 kernels never reach the
# wedge up and to the right of the pixel (the *blind spot*); Gated PixelCNN's vertical and
# horizontal stacks see every earlier pixel of the receptive field.


# %%
def gradient_map(m, r, c, size=11):
    xin = torch.rand(1, 1, size, size, requires_grad=True)
    m(xin)[..., r, c].sum().backward()
    return (xin.grad[0, 0].abs() > 0).float()


torch.manual_seed(0)
maps = {
    "PixelCNN": gradient_map(
        PixelCNN((1, 11, 11), channels=16, num_layers=4, first_kernel=3), 7, 5
    ),
    "Gated PixelCNN": gradient_map(GatedPixelCNN((1, 11, 11), channels=16, num_layers=4), 7, 5),
}
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, (name, g_map) in zip(axes, maps.items()):
    g_map[7, 5] = 0.5  # the output pixel, in grey
    ax.imshow(g_map, cmap="gray", vmin=0, vmax=1)
    ax.set_title(name)
    ax.axis("off")
fig.savefig(OUT / "receptive_fields.png", dpi=100)
show(OUT / "receptive_fields.png")
plt.close(fig)
print(
    "PixelCNN sees (r-1, c+2)?",
    bool(maps["PixelCNN"][6, 7]),
    "| Gated PixelCNN sees it?",
    bool(maps["Gated PixelCNN"][6, 7]),
)

# %% [markdown]
# ## 3. A class-conditional Gated PixelCNN inside your own Pyro model
# The model is an ordinary Pyro distribution: condition it on labels with `m.dist(y)` and
# observe the images. scikit-learn's 8x8 digits, thresholded to binary, train in seconds.

# %%
train = load("digits", "train", binarize="threshold")
test = load("digits", "test", binarize="threshold")
n = 256 if SMOKE else len(train)
xtr, ytr = train.x[:n], train.y[:n].long()
xte, yte = test.x, test.y.long()

gpc = GatedPixelCNN(
    (1, 8, 8), channels=16 if SMOKE else 64, num_layers=2 if SMOKE else 5, num_classes=10
)


def model(images, labels):
    with pyro.plate("data", images.shape[0]):
        pyro.sample("x", gpc.dist(labels), obs=images)


def guide(images, labels):
    pass


opt = torch.optim.Adam(gpc.parameters(), lr=2e-3)
elbo = Trace_ELBO()
epochs = 1 if SMOKE else 30
for _ in range(epochs):
    perm = torch.randperm(n)
    for i in range(0, n, 64):
        idx = perm[i : i + 64]
        opt.zero_grad()
        loss = elbo.differentiable_loss(model, guide, xtr[idx], ytr[idx]) / len(idx)
        loss.backward()
        opt.step()
gpc.eval()
with torch.no_grad():
    nll = float(-gpc.log_prob(xte, yte).mean())
print(f"test NLL {nll:.2f} nats = {nll / (64 * math.log(2)):.3f} bits/dim")

labels = torch.arange(10).repeat_interleave(4 if SMOKE else 8)
samples = gpc.sample(len(labels), y=labels)
show(
    plots.save_image_grid(
        samples,
        OUT / "gated_pixelcnn_samples.png",
        nrow=len(labels) // 10,
        title="Gated PixelCNN samples, by class",
    )
)

# %% [markdown]
# ## 4. Fast sampling
# The naive path runs the whole network once per pixel. PixelCNN's cached path evaluates
# only the cone of activations the next pixel depends on, so its cost per pixel does not
# grow with the image. Both paths consume the same noise: same seed, same image.

# %%
size = 12 if SMOKE else 28
torch.manual_seed(0)
pcnn = PixelCNN((1, size, size), channels=16 if SMOKE else 32, num_layers=3 if SMOKE else 5)
timings, draws = {}, {}
for cached in (False, True):
    t0 = time.perf_counter()
    draws[cached] = pcnn.sample(2, cached=cached, generator=torch.Generator().manual_seed(0))
    timings[cached] = time.perf_counter() - t0
print(
    f"{size}x{size}: naive {timings[False]:.1f} s, cached {timings[True]:.2f} s, "
    f"identical samples: {torch.equal(draws[False], draws[True])}"
)
