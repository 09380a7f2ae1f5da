# %% [markdown]
# # Training and evaluating a VAE
#
# This tutorial trains the variational autoencoder of Kingma & Welling (2014) on binarized
# MNIST with pyrogen, in Pyro syntax, and evaluates it the way papers do: the test ELBO and
# the importance-sampled negative log-likelihood (Burda et al. 2016), which is a tighter
# estimate of -log p(x). Run it as a script; `PYROGEN_SMOKE=1` selects a tiny run.
#
# Sizes: smoke (the tests), full (1000 test images, 5000 importance samples each) and docs
# (`PYROGEN_TUTORIAL_SIZE=docs`, the run shown on the docs site: the same training, fewer
# test images and importance samples, because the importance-sampled NLL dominates the run
# time on a shared CPU machine). The data cell prints the size that ran.

# %%
import os
import sys
from pathlib import Path

import pyro
import torch
from pyro.infer import Trace_ELBO

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit
from pyrogen.metrics import log_likelihood
from pyrogen.models import VAE

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "training_a_vae_output")
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
# ## Data
# `load` returns images as `(N, C, H, W)` floats in [0, 1]. The fixed binarization of
# Larochelle & Murray (2011) is already 0/1, which the Bernoulli likelihood requires.
# Smoke runs use scikit-learn's 8x8 digits with dynamic binarization instead.

# %%
if SMOKE:
    train = load("digits", "train", binarize="dynamic")
    test_x = load("digits", "test", binarize="dynamic").epoch(torch.Generator().manual_seed(1))
    epochs, num_is = 3, 50
else:
    train = load("binarized_mnist", "train")
    test_x = load("binarized_mnist", "test").x
    test_x = test_x[torch.randperm(len(test_x), generator=torch.Generator().manual_seed(0))]
    docs = os.environ.get("PYROGEN_TUTORIAL_SIZE") == "docs"
    test_x, epochs, num_is = test_x[: 500 if docs else 1000], 10, 1000 if docs else 5000
SIZE = "smoke" if SMOKE else os.environ.get("PYROGEN_TUTORIAL_SIZE", "full")
print(f"size {SIZE}:", train.name, tuple(train.x.shape), "test", tuple(test_x.shape))
print(f"{epochs} epochs, {num_is} importance samples per test image")

# %% [markdown]
# ## Model and guide
# `VAE.model` is the generative process p(z) p(x|z) with sites `"z"` and `"x"` inside
# `pyro.plate("data")`; `VAE.guide` is the amortized posterior q(z|x). The IWAE paper's
# one-layer architecture: two tanh layers of 200 units and 50 latent dimensions.

# %%
vae = VAE(train.x.shape[1:], z_dim=50, hidden=(200, 200), act="tanh")
print(pyro.poutine.trace(vae.model).get_trace(test_x[:2]).format_shapes())

# %% [markdown]
# ## Training
# `SVITrainer` minimizes the negative ELBO per example with one Adam over all parameters;
# `fit` adds a progress bar, per-epoch metrics, checkpoints and NaN detection.

# %%
trainer = SVITrainer(vae, Trace_ELBO(), lr=1e-3)
history = fit(trainer, train, epochs=epochs, batch_size=100, test_data=test_x, out=OUT / "run")
show(plots.save_curves(history, OUT / "loss.png"))
print((OUT / "run" / "metrics.csv").read_text())

# %% [markdown]
# ## Evaluation
# The ELBO lower-bounds log p(x). Importance sampling with S samples from q(z|x) gives a
# tighter estimate: its expectation increases with S towards log p(x), so the IS NLL must
# come out below -ELBO.

# %%
elbo = -history[-1]["test_loss"]
nll = -log_likelihood(vae, test_x, num_samples=num_is).mean().item()
print(f"test ELBO {elbo:.2f} nats; IS NLL ({num_is} samples) {nll:.2f} nats")
assert nll <= -elbo + 0.5, "the IS estimate should not be looser than the ELBO"

# %%
show(plots.save_image_grid(vae.sample(64, mean=True), OUT / "samples.png", title="samples"))
show(plots.save_reconstructions(test_x[:16], vae.reconstruct(test_x[:16]), OUT / "recon.png"))
print("figures in", OUT)
