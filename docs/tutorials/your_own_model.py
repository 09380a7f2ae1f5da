# %% [markdown]
# # Your own model in Pyro syntax
#
# pyrogen trains and evaluates any `model`/`guide` pair, not only its built-in families. This
# tutorial writes three models the way Pyro users write them and runs each from Python and
# from the command line:
#
# 1. a **conditional VAE** p(x | y) on the digits and their labels, `model(x, y)`;
# 2. a **VAE with a Gaussian-mixture prior** whose discrete component is enumerated, trained
#    with `TraceEnum_ELBO`;
# 3. a **Bayesian logistic regression** with `PyroSample` priors and an **AutoGuide**;
#
# then checks a model with `pyro.infer.Predictive` (a posterior predictive check) and hands a
# posterior to **arviz**. The models live in a plugin file,
# `docs/tutorials/plugins/user_models.py`, that registers them by name, so
# `pyrogen train NAME --import plugins/user_models.py` treats them like built-in models:
# copy it as a starting point for yours.
#
# Run it as a script; `PYROGEN_SMOKE=1` selects a tiny run and figures go to
# `$PYROGEN_TUTORIAL_OUT`.

# %%
import inspect
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pyro
import torch
from pyro.infer import Predictive, TraceEnum_ELBO

from pyrogen import plots
from pyrogen.data import load
from pyrogen.infer import SVITrainer, fit
from pyrogen.infer.fit import epoch_generator
from pyrogen.metrics import log_likelihood
from pyrogen.objectives import posterior_to_arviz

with warnings.catch_warnings():  # arviz 0.23 announces its 1.0 refactor on import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "your_own_model_output")
OUT.mkdir(parents=True, exist_ok=True)
HERE = Path(globals().get("__file__", "your_own_model.py")).resolve().parent
PLUGIN = HERE / "plugins" / "user_models.py"
sys.path.insert(0, str(PLUGIN.parent))
from user_models import CVAE, BayesianPixelRegression, MixturePriorVAE

NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show the figures inline


def show(path):
    """Shows a saved figure when run as a notebook."""
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


# These networks are small: one thread is the fastest on a CPU shared with other work.
torch.set_num_threads(1)
pyro.settings.set(module_local_params=True)
pyro.set_rng_seed(0)

# sizes: (smoke, full)
EPOCHS_VAE = 3 if SMOKE else 200
STEPS_BAYES = 30 if SMOKE else 1000
IS_SAMPLES = 20 if SMOKE else 5000
DRAWS = 20 if SMOKE else 1000

# %% [markdown]
# ## Data with labels
# `load("digits")` gives scikit-learn's 8x8 digits as grey levels in [0, 1] with their labels
# `y` (int64). The models below have Bernoulli likelihoods, so the pixels are binarized:
# each pixel is a draw from Bernoulli(grey level). For the Python runs we draw one training
# binarization; the test set gets the draw that `pyrogen eval` uses, so the test NLLs of the
# Python and command-line runs are on the same images.

# %%
train = load("digits", "train", binarize="dynamic")
test = load("digits", "test", binarize="dynamic")
x, y = train.epoch(torch.Generator().manual_seed(0)), train.y
x_test, y_test = test.epoch(epoch_generator(0, -1)), test.y
print(f"train {tuple(x.shape)} labels {tuple(y.shape)} {y.dtype}; test {tuple(x_test.shape)}")

# %% [markdown]
# ## 1. A conditional VAE: `model(x, y)`
# The generative model draws z ~ N(0, I) and the image from a decoder that sees z and the
# one-hot label; the guide q(z | x, y) sees both too (Sohn et al. 2015). The contract of a
# pyrogen model holds: the observed site is `"x"`, the latent `"z"`, the batch is
# `pyro.plate("data")`, and the decoder broadcasts over leading particle dimensions, so the
# metrics can draw many importance samples at once.

# %%
print(inspect.getsource(CVAE))

# %% [markdown]
# `fit` takes the pair `(x, y)` and calls `trainer.step(x_batch, y_batch)`, which passes both
# to `model` and `guide`; the test pair is evaluated the same way after every epoch.

# %%
cvae = CVAE(x.shape[1:], num_classes=10)
trainer = SVITrainer(cvae, lr=1e-3)
history = fit(
    trainer, (x, y), epochs=EPOCHS_VAE, batch_size=100, test_data=(x_test, y_test), progress=False
)
print(f"objective path: {trainer.path}")
print(f"after {EPOCHS_VAE} epochs: test ELBO {history[-1]['test_elbo']:.2f} nats per image")

# %% [markdown]
# `log_likelihood` passes the labels to model and guide with `args=(y,)` and returns the
# importance-sampled log p(x | y) per test image (Burda et al. 2016).

# %%
nll_cvae = -log_likelihood(cvae, x_test, num_samples=IS_SAMPLES, args=(y_test,)).mean().item()
print(f"conditional VAE: test NLL -log p(x | y) = {nll_cvae:.2f} nats ({IS_SAMPLES} samples)")

# %% [markdown]
# Class-conditional samples: one row per label, the Bernoulli means of x given z ~ p(z).

# %%
per_class = 8
labels = torch.arange(10).repeat_interleave(per_class)
grid = cvae.sample(len(labels), y=labels, mean=True)
path = plots.save_image_grid(grid, OUT / "cvae_samples.png", nrow=per_class, title="rows: y = 0..9")
show(path)
print(f"wrote {path}")

# %% [markdown]
# ## 2. A Gaussian-mixture prior, its component enumerated
# The prior is p(z) = sum_c pi_c N(z | mu_c, sigma_c^2). The component `c` is a model site
# marked `infer={"enumerate": "parallel"}` and the guide has no site for it: `TraceEnum_ELBO`
# sums it out exactly, so the guide only has to model q(z | x). `max_plate_nesting=1` tells
# it that the data plate is the only plate, so the enumerated values go to the dim left of it.

# %%
print(inspect.getsource(MixturePriorVAE.model))

# %%
mixture = MixturePriorVAE(x.shape[1:], num_components=10)
trainer = SVITrainer(mixture, TraceEnum_ELBO(max_plate_nesting=1), lr=1e-3)
history = fit(trainer, x, epochs=EPOCHS_VAE, batch_size=100, test_data=x_test, progress=False)
print(f"objective path: {trainer.path} ({trainer.path_reason})")
print(f"after {EPOCHS_VAE} epochs: test ELBO {history[-1]['test_elbo']:.2f} nats per image")

# %% [markdown]
# `log_likelihood` enumerates the marked site too: log p(x, z) = log sum_c p(x, z, c) in
# every importance weight.

# %%
nll_mixture = -log_likelihood(mixture, x_test, num_samples=IS_SAMPLES).mean().item()
print(f"mixture-prior VAE: test NLL -log p(x) = {nll_mixture:.2f} nats ({IS_SAMPLES} samples)")

# %% [markdown]
# The components are clusters found without labels. Each test image goes to the component
# most probable at its code; the table counts the images per component, and the purity is
# the fraction of images whose label is the most common one in their component.

# %%
cluster = mixture.cluster(x_test)
counts = torch.zeros(10, 10, dtype=torch.long)  # (component, label)
counts.index_put_((cluster, y_test), torch.ones_like(y_test), accumulate=True)
used = (counts.sum(1) > 0).sum().item()
purity = counts.max(1).values.sum().item() / len(y_test)
print(f"components used: {used} of 10; purity against the labels: {purity:.2f}")
print("images per component:", counts.sum(1).tolist())
grid = torch.cat([mixture.sample(8, mean=True, component=c) for c in range(10)])
path = plots.save_image_grid(grid, OUT / "mixture_components.png", nrow=8, title="rows: c = 0..9")
show(path)
print(f"wrote {path}")

# %% [markdown]
# ## 3. A Bayesian model with an AutoGuide
# Every pixel gets a logistic regression on the one-hot label,
# logit p(x_d = 1 | y) = b_d + w_{y,d}, with priors b ~ N(0, 3^2), w ~ N(0, 1) declared as
# `PyroSample` attributes. The weights are **global** latents (outside the data plate), and the
# guide is `AutoNormal(self.model)`, whose parameters exist only after its first call:
# `SVITrainer` creates them on the first batch and trains them. `model` is a `pyro_method`:
# outside one (or outside `forward`) a PyroModule returns a plain prior draw for a
# `PyroSample` attribute and records no site, and the guide would then train nothing.

# %%
print(inspect.getsource(BayesianPixelRegression))

# %% [markdown]
# A global latent's KL term is paid once per data set, so the model trains on the whole
# training set at every step (`batch_size=len(x)`); minibatches would need the data plate to
# be scaled, `pyro.plate("data", N, subsample_size=B)`.

# %%
bayes = BayesianPixelRegression(x.shape[1:], num_classes=10)
history = fit(
    SVITrainer(bayes, lr=0.05), (x, y), epochs=STEPS_BAYES, batch_size=len(x), progress=False
)
print(f"after {STEPS_BAYES} full-batch steps: train ELBO {history[-1]['train_elbo']:.2f} nats")

# %% [markdown]
# The test NLL of a model with global latents is the posterior predictive density,
# -log E_q(b, w)[p(x | y, b, w)] per test image, the guide standing in for the posterior:
# `global_latents="posterior"` asks `log_likelihood` for it (by default it refuses, since
# log p(x) does not factor over examples when latents are shared).

# %%
nll_bayes = -log_likelihood(
    bayes, x_test, num_samples=IS_SAMPLES, args=(y_test,), global_latents="posterior"
)
nll_bayes = nll_bayes.mean().item()
print(f"Bayesian regression: posterior predictive NLL {nll_bayes:.2f} nats ({IS_SAMPLES} draws)")

# %% [markdown]
# ## 4. A posterior predictive check with `pyro.infer.Predictive`
# The Bayesian regression treats the pixels of an image as independent given its label: it
# cannot know that a digit drawn further right, or with a thicker stroke, has ink in
# neighbouring pixels together. A statistic that looks at exactly this: the correlation,
# over the test images of one class, between horizontally adjacent pixels, averaged over the
# pixel pairs and the classes. `Predictive` draws replicated test sets (the same labels)
# from the posterior predictive of the regression (`guide=bayes.guide`) and from the
# conditional VAE (z from its prior), whose shared latent z can correlate pixels; the p-value
# is the fraction of replicated statistics at least as large as the observed one.


# %%
def neighbour_correlation(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    left, right = images[..., 0, :, :-1].flatten(-2), images[..., 0, :, 1:].flatten(-2)
    per_class = []
    for k in range(10):  # (..., N_k, 56): the pixel pairs of the images of class k
        a, b = left[..., labels == k, :], right[..., labels == k, :]
        a, b = a - a.mean(-2, keepdim=True), b - b.mean(-2, keepdim=True)
        corr = (a * b).mean(-2) / (a.pow(2).mean(-2) * b.pow(2).mean(-2)).sqrt()
        per_class.append(torch.nanmean(corr, -1))  # pairs that never change are skipped
    return torch.stack(per_class, -1).mean(-1)


observed = neighbour_correlation(x_test, y_test).item()
print(f"observed neighbour correlation: {observed:.3f}")
with torch.no_grad():
    replicas = {
        "Bayesian regression": Predictive(
            bayes.model, guide=bayes.guide, num_samples=DRAWS, return_sites=["x"]
        )(None, y_test)["x"],
        "conditional VAE": Predictive(cvae.model, num_samples=DRAWS, return_sites=["x"])(
            None, y_test
        )["x"],
    }
for name, rep in replicas.items():
    stats = neighbour_correlation(rep, y_test)
    p_value = (stats >= observed).float().mean().item()
    print(
        f"{name:<20} replicated {stats.mean():.3f} +- {stats.std():.3f} "
        f"({DRAWS} draws), p-value {p_value:.3f}"
    )

# %% [markdown]
# ## 5. The posterior in arviz
# `Predictive(..., return_sites=["bias", "weight"])` draws the global sites from the guide;
# `posterior_to_arviz` (arviz's `from_dict`, on arviz 0.x and 1.x alike) names their
# dimensions (`dims`) and labels the coordinates (`coords`), so the summary and plots can
# select, e.g., the centre pixels of two digits by name. The draws are independent
# (variational, not MCMC), so the summary shows statistics without chain diagnostics
# (`kind="stats"`).

# %%
with torch.no_grad():
    draws = Predictive(
        bayes.model, guide=bayes.guide, num_samples=DRAWS, return_sites=["bias", "weight"]
    )(None, y_test[:1])
posterior = {  # (chain, draw, ...): one chain of DRAWS draws, without the size-1 dims
    "bias": draws["bias"].reshape(1, DRAWS, 8, 8).numpy(),
    "weight": draws["weight"].reshape(1, DRAWS, 10, 8, 8).numpy(),
}
idata = posterior_to_arviz(
    posterior,
    coords={"digit": list(range(10)), "row": list(range(8)), "col": list(range(8))},
    dims={"bias": ["row", "col"], "weight": ["digit", "row", "col"]},
)
print(idata.posterior)
centre_pixels = {"digit": [0, 1], "row": [3, 4], "col": [3, 4]}
summary = az.summary(idata, var_names=["weight"], coords=centre_pixels, kind="stats")
print(summary)
centre = idata.posterior["weight"].sel(row=[3, 4], col=[3, 4]).mean(("chain", "draw", "row", "col"))
print("mean weight of the 4 centre pixels per digit:", [round(float(v), 2) for v in centre])
print(f"the digit least likely to have ink at the centre: {int(centre.idxmin('digit'))}")

# %% [markdown]
# ## 6. The same models from the command line
# `--import` runs the plugin file, whose `register_model` calls name the models.
# `register_model("cvae", labels=True)` declares that `model`/`guide` take `(x, y)`: the
# command line then trains on the dataset's pairs (a fresh binarization of x every epoch,
# each row keeping its label), `pyrogen eval` reports -log p(x | y), and `pyrogen sample`
# draws one row per class. A labelled model on a dataset without labels is refused before
# anything is trained or written. The mixture model needs `--loss enum_elbo`, the registry's
# `TraceEnum_ELBO(max_plate_nesting=1)`: with the default `elbo` the command refuses to
# train it (below), since Trace_ELBO would draw the component from the prior instead of
# summing it out. `pyrogen eval` recognises the global latents of the regression and
# reports its posterior predictive NLL.

# %%
env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}


def pyrogen(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pyrogen", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"pyrogen {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


listed = pyrogen("list", "--import", str(PLUGIN))
for line in listed.splitlines():
    if line.split()[:1] in (["cvae"], ["mixture_vae"], ["bayes_pixels"], ["enum_elbo"]):
        print(line)

refused = subprocess.run(
    [sys.executable, "-m", "pyrogen", "train", "mixture_vae", "--import", str(PLUGIN)]
    + ["--out", str(OUT / "refused")],
    env=env,
    capture_output=True,
    text=True,
)
print(f"exit status {refused.returncode}: {refused.stderr.strip()}")
print(f"run directory written: {(OUT / 'refused').exists()}")

# %%
RUNS = {
    "cvae": ["--epochs", str(EPOCHS_VAE)],
    "mixture_vae": ["--epochs", str(EPOCHS_VAE), "--loss", "enum_elbo"],
    "bayes_pixels": ["--epochs", str(STEPS_BAYES), "--batch-size", "1500", "--lr", "0.05"],
}
cli_nll = {}
for name, options in RUNS.items():
    run = OUT / f"cli-{name}"
    log = pyrogen("train", name, "--import", str(PLUGIN), *options, "--out", str(run))
    print(f"$ pyrogen train {name} --import {PLUGIN.name} {' '.join(options)}")
    print("\n".join(line for line in log.splitlines() if line.startswith(("objective", "final"))))
    print(pyrogen("eval", str(run), "--num-samples", str(IS_SAMPLES)).strip())
    cli_nll[name] = json.loads((run / "eval.json").read_text())["test_nll"]
print(pyrogen("sample", str(OUT / "cli-cvae"), "-n", "50").strip())
show(OUT / "cli-cvae" / "samples.png")

# %% [markdown]
# ## Summary
# The test NLLs of the three models, trained from Python and from the command line (the
# command line redraws the binarization every epoch; the Python runs used one draw), on the
# same binarized test images. The conditional VAE and the regression score -log p(x | y)
# (for the regression, its posterior predictive), the mixture VAE -log p(x): only the first
# and the third row compare like with like.

# %%
rows = [
    ("conditional VAE", "p(x | y)", nll_cvae, cli_nll["cvae"]),
    ("mixture-prior VAE", "p(x)", nll_mixture, cli_nll["mixture_vae"]),
    ("Bayesian regression", "p(x | y), predictive", nll_bayes, cli_nll["bayes_pixels"]),
]
print(f"{'model':<20} {'likelihood':<21} {'Python':>8} {'CLI':>8}  (test NLL, nats per image)")
for name, of, python_nll, cli in rows:
    print(f"{name:<20} {of:<21} {python_nll:8.2f} {cli:8.2f}")
