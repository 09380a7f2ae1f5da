# %% [markdown]
# # EM and mean-field as special cases of the ELBO
#
# For observations X, latents T and any q(T),
# log p(X) = L(q) + KL(q(T) || p(T | X)) with L(q) = E_q[log p(X, T) - log q(T)].
# Two classical algorithms maximize L(q) over restricted families:
#
# * **EM**: T = (Z, theta) with q(Z, theta) = q(Z) delta(theta - theta*). The E-step sets
#   q(Z) = p(Z | X, theta*) (the KL vanishes, the bound touches log p(X | theta*)); the
#   M-step maximizes L over theta*. Hence log p(X | theta) never decreases.
# * **Mean-field CAVI**: q(T) = prod_j q_j(T_j). Block-coordinate ascent gives
#   log q_j(T_j) = E_{i != j} log p(X, T) + const, each update raising L.
#
# We fit a Gaussian mixture by EM (closed-form M-step, and a generic gradient M-step),
# run CAVI on the Normal model with unknown mean and precision and on a Bayesian mixture,
# and check every result against scikit-learn, a closed form, SVI and NUTS.

# %%
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS, SVI, TraceMeanField_ELBO
from sklearn.mixture import BayesianGaussianMixture
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from pyrogen.data import eight_gaussians
from pyrogen.infer import GradientEM
from pyrogen.models import GaussianMixture
from pyrogen.objectives import BayesianGaussianMixtureCAVI, NormalGammaCAVI, posterior_to_arviz

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "em_mean_field_output")
OUT.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)
pyro.set_rng_seed(0)

NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show the figures inline


def show(path):
    """Shows a saved figure when run as a notebook."""
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


# %% [markdown]
# ## EM for a Gaussian mixture
# `GaussianMixture` is a Pyro model whose assignment site is enumerated: with the empty
# guide, `TraceEnum_ELBO` is exactly -log p(X). `fit_em` alternates the exact E-step
# (responsibilities) and the closed-form M-step, and returns the average log-likelihood after
# every iteration.

# %%
gen = torch.Generator().manual_seed(0)
x = eight_gaussians(400 if SMOKE else 2000, generator=gen, std=0.1).double()
gmm = GaussianMixture(8, 2)
history = gmm.fit_em(x, num_iters=20 if SMOKE else 100)
sk = SkGaussianMixture(8, tol=1e-10, max_iter=1000, random_state=0).fit(x.numpy())
print(f"EM final avg log-lik {history[-1]:.5f}, scikit-learn {sk.score(x.numpy()):.5f}")
print(f"smallest change between iterations: {np.diff(history).min():.2e} (never negative)")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
axes[0].plot(np.arange(1, len(history) + 1), history, label="EM (pyrogen)")
axes[0].axhline(sk.score(x.numpy()), color="k", ls="--", label="scikit-learn optimum")
axes[0].set(xlabel="iteration", ylabel="average log-likelihood", title="EM is monotone")
axes[0].legend()
axes[1].scatter(*x.T.numpy(), s=2, alpha=0.3)
resp = gmm.posterior(x).detach()
locs = gmm.locs.detach().numpy()
axes[1].scatter(locs[:, 0], locs[:, 1], c="r", marker="x", label="fitted means")
axes[1].set(title="8 Gaussians: fitted components", aspect="equal")
axes[1].legend()
fig.tight_layout()
fig.savefig(OUT / "em_gaussian_mixture.png", dpi=100)
show(OUT / "em_gaussian_mixture.png")

# %% [markdown]
# ### A gradient M-step for any enumerable Pyro model
# When the M-step has no closed form, `GradientEM` computes the exact posterior marginals by
# enumeration, freezes them as a guide, and takes Adam steps on the ELBO in theta (a step
# that fails to raise the bound is undone: generalized EM). On the mixture it reaches the
# same optimum as the closed form.

# %%
small = x[:: 4 if SMOKE else 2]
# Both start from the same poor point: 8 random data points as means, unit covariances.
start = small[torch.randperm(small.shape[0], generator=gen)[:8]]
gmm_grad = GaussianMixture(8, 2).double()
gmm_grad.set_params(torch.full((8,), 1 / 8).double(), start, torch.eye(2).double().expand(8, 2, 2))
em = GradientEM(gmm_grad.model, gmm_grad.parameters(), m_steps=10 if SMOKE else 30, lr=0.05)
grad_history = [
    float(em.step(small)["log_lik"]) / small.shape[0] for _ in range(3 if SMOKE else 15)
]
gmm_closed = GaussianMixture(8, 2).double()
gmm_closed.set_params(
    torch.full((8,), 1 / 8).double(), start, torch.eye(2).double().expand(8, 2, 2)
)
closed_history = gmm_closed.fit_em(small, num_iters=len(grad_history))
print("gradient EM :", np.round(grad_history, 4))
print("closed-form :", np.round(closed_history, 4))

# %% [markdown]
# ## Mean-field CAVI on the Normal model
# x_n ~ N(mu, 1/tau), mu | tau ~ N(mu0, 1/(lambda0 tau)), tau ~ Gamma(a0, b0), with
# q(mu) q(tau). The updates are in closed form, and so is their fixed point, because only
# lambda_N and b_N are coupled (`optimal_factors`).

# %%
y = 1.5 + 0.7 * torch.randn(50, generator=gen, dtype=torch.float64)
cavi = NormalGammaCAVI(mu0=0.0, lambda0=1.0, a0=2.0, b0=1.0)
elbos = cavi.fit(y, num_iters=30)
print("CAVI factors :", {k: round(getattr(cavi, k), 6) for k in ("mu_n", "lambda_n", "a_n", "b_n")})
print("closed form  :", {k: round(v, 6) for k, v in cavi.optimal_factors(y).items()})
print("ELBO per sweep:", np.round(elbos[:4], 6), "...")

# %% [markdown]
# ### The same optimum by SVI with a mean-field guide
# `TraceMeanField_ELBO` uses the analytic KL where torch has it. Stochastic gradients reach
# the CAVI solution up to Monte Carlo noise.

# %%
pyro.clear_param_store()
loss = TraceMeanField_ELBO(num_particles=16, vectorize_particles=True, max_plate_nesting=1)
svi = SVI(cavi.model, cavi.guide, pyro.optim.ClippedAdam({"lr": 0.1, "lrd": 0.993}), loss)
for _ in range(100 if SMOKE else 600):
    svi.step(y)
store = {k: float(v.detach()) for k, v in pyro.get_param_store().items()}
print(f"q(mu) mean: SVI {store['q_mu_loc']:.4f}  CAVI {cavi.mu_n:.4f}")
print(f"q(mu) sd  : SVI {store['q_mu_scale']:.4f}  CAVI {cavi.lambda_n**-0.5:.4f}")
e_tau = store["q_tau_concentration"] / store["q_tau_rate"]
print(f"E_q[tau]  : SVI {e_tau:.4f}  CAVI {cavi.a_n / cavi.b_n:.4f}")

# %% [markdown]
# ### Posterior summaries in arviz, against NUTS
# `to_inference_data` exports draws from q as arviz data (`InferenceData` with arviz 0.x, an
# xarray `DataTree` with arviz 1.x); NUTS on the same Pyro model gives the reference
# posterior, exported the same way by `posterior_to_arviz`. Mean field matches the means; it
# slightly underestimates the spread of mu, because the true posterior couples mu and tau.

# %%
idata_vi = cavi.to_inference_data(num_samples=2000)
mcmc = MCMC(
    NUTS(cavi.model),
    num_samples=100 if SMOKE else 1000,
    warmup_steps=100 if SMOKE else 500,
    disable_progbar=True,
)
mcmc.run(y)
idata_nuts = posterior_to_arviz(mcmc.get_samples(group_by_chain=True))
print("mean-field CAVI:\n", az.summary(idata_vi, kind="stats"))
print("NUTS:\n", az.summary(idata_nuts, var_names=["mu", "tau"], kind="stats"))

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, name in zip(axes, ("mu", "tau")):
    ax.hist(
        idata_nuts.posterior[name].values.ravel(), bins=40, density=True, alpha=0.5, label="NUTS"
    )
    ax.hist(
        idata_vi.posterior[name].values.ravel(),
        bins=40,
        density=True,
        alpha=0.5,
        label="mean-field CAVI",
    )
    ax.set(title=name)
    ax.legend()
fig.tight_layout()
fig.savefig(OUT / "cavi_vs_nuts.png", dpi=100)
show(OUT / "cavi_vs_nuts.png")

# %% [markdown]
# ## CAVI for a Bayesian Gaussian mixture
# Dirichlet prior on the weights, Normal-Wishart on each component. The factors
# q(c_n) and q(pi) prod_k q(mu_k, Lambda_k) are updated in turn; with the same priors the
# result agrees with scikit-learn's `BayesianGaussianMixture` (which implements the same
# updates). Extra components are emptied out by the sparse Dirichlet prior.

# %%
bgmm = BayesianGaussianMixtureCAVI(10)
bgmm.fit(x, num_iters=100 if SMOKE else 500)
ref = BayesianGaussianMixture(
    n_components=10,
    weight_concentration_prior_type="dirichlet_distribution",
    max_iter=100 if SMOKE else 2000,
    tol=1e-10,
    random_state=0,
).fit(x.numpy())
print("pyrogen weights     :", np.sort(bgmm.weights.numpy())[::-1].round(3))
print("scikit-learn weights:", np.sort(ref.weights_)[::-1].round(3))
big = bgmm.weights.numpy() > 0.05
dist = np.linalg.norm(bgmm.means.numpy()[big][:, None] - ref.means_[None], axis=-1).min(1)
print(f"largest distance from a used pyrogen mean to a scikit-learn mean: {dist.max():.2e}")
