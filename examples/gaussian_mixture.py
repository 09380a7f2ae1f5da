"""Gaussian mixture by EM, and a Bayesian mixture by mean-field CAVI, against scikit-learn.

Fits :class:`pyrogen.models.GaussianMixture` with ``fit_em`` (exact E-step, closed-form
M-step) and :class:`pyrogen.objectives.BayesianGaussianMixtureCAVI` on the 8-Gaussians toy data,
prints the per-iteration average log-likelihood and the agreement with scikit-learn::

    python examples/gaussian_mixture.py --num-points 2000 --iters 100
    python examples/gaussian_mixture.py --smoke-test
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.mixture import BayesianGaussianMixture
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from pyrogen.data import eight_gaussians
from pyrogen.infer import resolve_device
from pyrogen.models import GaussianMixture
from pyrogen.objectives import BayesianGaussianMixtureCAVI


def main(args: argparse.Namespace) -> dict[str, float]:
    device = resolve_device(args.device)
    n, iters = (300, 10) if args.smoke_test else (args.num_points, args.iters)
    gen = torch.Generator().manual_seed(args.seed)
    x = eight_gaussians(n, generator=gen, std=0.1).double()
    gmm = GaussianMixture(args.components, 2).to(device)
    history = gmm.fit_em(x.to(device), num_iters=iters, seed=args.seed)
    print("EM average log-likelihood:", np.round(history[:: max(1, iters // 10)], 4))
    ref = SkGaussianMixture(args.components, tol=1e-10, max_iter=1000, random_state=args.seed)
    sk_ll = float(ref.fit(x.numpy()).score(x.numpy()))
    print(f"final: pyrogen {history[-1]:.5f}, scikit-learn {sk_ll:.5f}")
    bgmm = BayesianGaussianMixtureCAVI(args.components + 2)
    bgmm.fit(x, num_iters=iters * 5, seed=args.seed)
    bref = BayesianGaussianMixture(
        n_components=args.components + 2,
        weight_concentration_prior_type="dirichlet_distribution",
        max_iter=iters * 5,
        tol=1e-10,
        random_state=args.seed,
    ).fit(x.numpy())
    print("CAVI weights        :", np.sort(bgmm.weights.numpy())[::-1].round(3))
    print("scikit-learn weights:", np.sort(bref.weights_)[::-1].round(3))
    return {"em_log_lik": history[-1], "sklearn_log_lik": sk_ll}


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--num-points", type=int, default=2000)
parser.add_argument("--components", type=int, default=8)
parser.add_argument("--iters", type=int, default=100)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
