# %% [markdown]
# # Disentanglement and discrete latents
#
# Two ways of shaping a VAE's latent space. The first half asks for *disentangled* codes,
# where each latent dimension follows one generative factor: beta-VAE (Higgins et al. 2017)
# weights the KL term by beta > 1, the controlled-capacity objective (Burgess et al. 2018)
# lets the KL grow along a schedule C(t), and FactorVAE (Kim & Mnih 2018) penalizes only the
# total correlation of the aggregate posterior, estimated with a discriminator. We score them
# with the beta-VAE metric on procedurally generated sprites whose factors we know. The second
# half makes the latents *discrete*: VQ-VAE (van den Oord et al. 2017) quantizes the encoder
# output to a learned codebook, and a masked-convolution prior over the code grid turns it
# into a generative model. Run as a script; `PYROGEN_SMOKE=1` selects a tiny run.

# %%
import os
import sys
from pathlib import Path

import pyro
import torch

from pyrogen import plots
from pyrogen.data import Sprites, load, load_sprites
from pyrogen.infer import FactorVAETrainer, SVITrainer, VQVAETrainer, fit
from pyrogen.metrics import beta_vae_score
from pyrogen.models import VAE, VQVAE, FactorVAE, PixelCNN
from pyrogen.objectives import BetaELBO, LinearCapacity

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "disentanglement_output")
OUT.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)
pyro.settings.set(module_local_params=True)

NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show the figures inline


def show(path):
    """Shows a saved figure when run as a notebook."""
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


# %% [markdown]
# ## Sprites with known factors
# Each image is Sim(v) for v = (shape, scale, orientation, pos_x, pos_y), every factor on a
# grid and independent. dSprites cannot be downloaded here, so `pyrogen.data.Sprites`
# renders the same kind of data on the fly. Rows below: one factor varied, the rest fixed.

# %%
sprites = Sprites(size=32)
base = torch.tensor([1, 3, 2, 8, 8])
rows = []
for j, k in enumerate(sprites.factor_sizes):
    f = base.repeat(8, 1)
    f[:, j] = torch.linspace(0, k - 1, 8).round().long()
    rows.append(sprites.render(f))
show(
    plots.save_image_grid(
        torch.cat(rows),
        OUT / "sprites_factors.png",
        nrow=8,
        title="rows: shape, scale, orientation, x, y",
    )
)
n_train, epochs, metric_points = (512, 1, (60, 30)) if SMOKE else (20_000, 10, (800, 400))
x, _ = load_sprites(n_train, sprites=sprites, seed=0)
x_test, _ = load_sprites(64 if SMOKE else 1000, sprites=sprites, seed=1)
print("sprites", tuple(x.shape), "factor sizes", sprites.factor_sizes)

# %% [markdown]
# ## beta-VAE and controlled capacity
# `BetaELBO(beta)` is -E_q log p(x|z) + beta KL(q(z|x) || p(z)); with `capacity=C` the KL
# penalty becomes beta |KL - C(t)| and the KL is pulled towards a target that grows over
# training. beta = 1 is the ordinary ELBO (the tests check that, value and gradient).
# We train convolutional VAEs (`arch="conv"`) with 10 latent dimensions.


# %%
def conv_vae(cls=VAE, **kw):
    return cls((1, 32, 32), z_dim=10, hidden=(256,), arch="conv", act="relu", **kw)


steps = epochs * -(-n_train // 64)
objectives = {
    "VAE (beta=1)": BetaELBO(beta=1.0),
    "beta-VAE (beta=4)": BetaELBO(beta=4.0),
    "capacity (gamma=20, C->15)": BetaELBO(beta=20.0, capacity=LinearCapacity(15.0, steps)),
}
models = {}
for name, loss in objectives.items():
    pyro.set_rng_seed(0)
    vae = conv_vae()
    fit(SVITrainer(vae, loss), x, epochs=epochs, batch_size=64, device="cpu", progress=False)
    models[name] = vae

# %% [markdown]
# ## FactorVAE
# FactorVAE keeps beta = 1 and adds gamma * TC(z), TC = KL(q(z) || prod_j q(z_j)). A
# discriminator learns to tell codes z ~ q(z) from codes whose dimensions were shuffled
# across the batch (draws of prod_j q(z_j)); its logit log D/(1-D) estimates log
# q(z)/prod_j q(z_j), so its mean is the TC. `FactorVAETrainer` alternates the two updates,
# splitting each batch in half, and reports `tc` every step.

# %%
pyro.set_rng_seed(0)
fvae = conv_vae(FactorVAE, disc_hidden=(256, 256))
history = fit(
    FactorVAETrainer(fvae, gamma=10.0),
    x,
    epochs=epochs,
    batch_size=128,
    device="cpu",
    progress=False,
)
models["FactorVAE (gamma=10)"] = fvae
print("FactorVAE TC estimate per epoch:", [round(h["train_tc"], 3) for h in history])

# %% [markdown]
# ## Which latents are used, and what they do
# The KL of each dimension says how much information it carries; a traversal decodes the
# code of one image with one dimension swept over [-2.5, 2.5]. A disentangled model shows
# one factor per row (position, then scale, ...).

# %%
results = {}
for name, vae in models.items():
    vae.eval()
    with torch.no_grad():
        loc, scale = vae.encode(x_test)
        kl = (0.5 * (loc**2 + scale**2 - 1) - scale.log()).mean(0)
        dims = kl.argsort(descending=True)[:5]
        values = torch.linspace(-2.5, 2.5, 8)
        z = loc[:1].repeat(len(dims) * len(values), 1)
        for r, d in enumerate(dims.tolist()):
            z[r * len(values) : (r + 1) * len(values), d] = values
        grid = torch.sigmoid(vae.decode(z))
    tag = name.split(" ")[0].lower().replace("-", "_")
    show(plots.save_image_grid(grid, OUT / f"traversal_{tag}.png", nrow=len(values), title=name))
    score = beta_vae_score(lambda im, v=vae: v.encode(im)[0], sprites, *metric_points)
    results[name] = (score["accuracy"], float(kl.sum()), int((kl > 0.1).sum()))

print(f"{'model':28s} metric  KL(nats)  active dims")
for name, (acc, kl_total, active) in results.items():
    print(f"{name:28s} {acc:.3f}  {kl_total:7.1f}  {active}")

# %% [markdown]
# The metric (Higgins et al. 2017) fixes one factor in pairs of images and asks a linear
# classifier which factor it was, from the mean |z1 - z2| over 64 pairs; chance is 0.2.
# `benchmarks/results/disentanglement.md` holds a multi-seed comparison at a fixed budget.
# At the short budgets a CPU allows, differences are small and seed-dependent; the papers
# trained for hundreds of thousands of steps.
#
# ## Discrete latents: VQ-VAE
# The encoder maps an image to a 7x7 grid of vectors; each is replaced by its nearest
# codebook entry. The decoder sees the codes, the encoder gets the decoder's gradient copied
# straight through the quantizer, the codebook loss ||sg[z_e] - e||^2 moves the codes and
# the commitment loss beta ||z_e - sg[e]||^2 keeps the encoder near them.

# %%
if SMOKE:
    fx, fx_test, vq_epochs = load("digits", "train").x[:512], load("digits", "test").x, 1
else:
    fx = load("fashion_mnist", "train").x
    fx_test, vq_epochs = load("fashion_mnist", "test").x[:2000], 3
pyro.set_rng_seed(0)
vq = VQVAE(fx.shape[1:], num_codes=128, code_dim=16, hidden=32, init="data")
hist = fit(
    VQVAETrainer(vq, lr=1e-3),
    fx,
    epochs=vq_epochs,
    batch_size=64,
    test_data=fx_test,
    device="cpu",
    progress=False,
)
last = hist[-1]
print(
    f"test MSE/pixel {last['test_mse']:.4f}, code perplexity {last['test_perplexity']:.1f}, "
    f"codebook usage {last['test_usage']:.2f}"
)

# %% [markdown]
# ## A prior over codes, and samples
# Stage 2 fits an autoregressive prior p(z) = prod_i p(z_i | z_<i) over the code grids of the
# training images (masked convolutions keep it causal). Decoding codes drawn from it gives
# samples; decoding uniformly random codes, the stage-1 prior, shows why this stage matters.

# %%
with torch.no_grad():
    # Code grids (n, h, w) as the one-channel images (n, 1, h, w) the prior scores.
    codes = torch.cat([vq.codes(c) for c in fx.split(1000)])[:, None].float()
prior = PixelCNN.for_codes(128, vq.latent_shape, channels=64, num_layers=4)
fit(
    SVITrainer(prior, lr=1e-3), codes, epochs=vq_epochs, batch_size=64, device="cpu", progress=False
)
show(plots.save_reconstructions(fx_test[:16], vq.reconstruct(fx_test[:16]), OUT / "vq_recon.png"))
vq.prior = prior
show(
    plots.save_image_grid(
        vq.sample(36), OUT / "vq_prior_samples.png", nrow=6, title="codes from the learned prior"
    )
)
vq.prior = None
show(
    plots.save_image_grid(
        vq.sample(36), OUT / "vq_uniform_samples.png", nrow=6, title="codes drawn uniformly"
    )
)
print("figures in", OUT)
