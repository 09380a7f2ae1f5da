"""``pyrogen eval``: test metrics of a run directory, chosen by the kind of model.

Models with latent variables get the test ELBO, the importance-sampled NLL and the latent
report (active units, ELBO surgery); exact densities get log p(x) directly; implicit models
(GANs) get MMD and a classifier two-sample test; distilled students get their teacher's
scores of their samples.

A model registered with ``labels=True`` is evaluated on the test pairs ``(x, y)``: its NLL is
-log p(x | y). Discrete model sites marked for enumeration are summed out exactly (in the
test ELBO, by TraceEnum_ELBO, and in the NLL). A model with global latents (a Bayesian
model's weights, outside ``pyro.plate("data")``) gets the posterior predictive NLL
-log E_q(theta) p(x | theta) per example, its guide standing for the posterior.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro.infer import ELBO, Trace_ELBO, TraceEnum_ELBO

from pyrogen.cli.distillation import distillation_report
from pyrogen.cli.runs import is_rank0, load_run, model_args, model_only_latents
from pyrogen.infer import resolve_device
from pyrogen.infer.adversarial import GANPair
from pyrogen.infer.distributed import init_from_env, sharded_log_likelihood
from pyrogen.models.protocols import ExactDensity, ModelGuidePair, implements
from pyrogen.objectives.distillation import DistillationPair

Args = tuple[torch.Tensor, ...]


def _samples_latents(module: Any, args: Args) -> bool:
    """Whether ``module.guide(*args)`` draws any latent variable."""
    with torch.random.fork_rng(devices=[]):
        trace = pyro.poutine.trace(module.guide).get_trace(*args)
    sites = pyro.poutine.util.prune_subsample_sites(trace).nodes.values()
    return any(site["type"] == "sample" for site in sites)


def _test_elbo(module: Any, args: Args, enumerated: bool) -> tuple[float, float]:
    r"""The 10-particle ELBO per example and its standard error; discrete model sites
    marked for enumeration are summed out (TraceEnum_ELBO), as in training.

    The standard error is that of batch means: the examples are dealt at random into
    k <= 50 groups j of n_j examples with mean ELBO m_j, and
    se^2 = k / (k - 1) \sum_j (n_j / n)^2 (m_j - m)^2, which estimates Var(m) whether or
    not the split is sorted (by class, say), without a per-example ELBO from every model.
    """
    elbo: ELBO
    if enumerated:
        elbo = TraceEnum_ELBO(num_particles=10, vectorize_particles=False, max_plate_nesting=1)
    else:
        elbo = Trace_ELBO(num_particles=10, vectorize_particles=False)
    n = args[0].shape[0]
    k = max(min(n, 50), -(-n // 500))  # groups of at most 500 examples (memory)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).to(args[0].device)
    groups = [order[j::k] for j in range(k)]
    sizes = torch.tensor([float(len(g)) for g in groups], dtype=torch.float64)
    means = torch.tensor(
        [-elbo.loss(module.model, module.guide, *(a[g] for a in args)) / len(g) for g in groups],
        dtype=torch.float64,
    )
    weights = sizes / n
    mean = float((weights * means).sum())
    se = math.sqrt(k / (k - 1) * float((weights**2 * (means - mean) ** 2).sum())) if k > 1 else 0.0
    return mean, se


def _x_is_discrete(module: Any, args: Args) -> bool:
    """Whether the model's density is one of discrete values: a probability mass function
    of ``x`` (Bernoulli, discretized logistic, ...), or a flow over dequantized levels
    ``y = x (K - 1) + u`` whose density on [0, K)^D is that of the K levels. Bits per
    dimension are reported for such models only."""
    if getattr(module, "dequantize", None) is not None:
        return True
    with torch.random.fork_rng(devices=[]):
        trace = pyro.poutine.trace(module.model).get_trace(*args)
    site = trace.nodes.get("x")
    return site is not None and bool(getattr(site["fn"].support, "is_discrete", False))


def _se(values: torch.Tensor) -> float:
    """The standard error of the mean of ``values`` (one per test example)."""
    n = values.numel()
    return float(values.double().std() / math.sqrt(n)) if n > 1 else 0.0


def cmd_eval(
    run_dir: str, num_samples: int, device: str, limit: int | None, seed: int = 0
) -> dict[str, Any]:
    """Test metrics of a run directory (printed, and written to ``eval.json``).

    Every figure comes with its standard error over the test examples (``*_se``) and says
    what it is: the 10-particle ELBO and the importance-sampled NLL of latent-variable
    models, the exact NLL of exact densities, the one-draw dequantization bound of a flow
    over dequantized levels, and bits per dimension where the data are discrete levels.
    ``seed`` seeds every random draw (particles, importance samples, dequantization noise),
    so two evaluations of a run print the same numbers.
    """
    from pyrogen.metrics import active_units, latent_report, log_likelihood
    from pyrogen.metrics.likelihood import global_latent_sites

    cfg, stepper = load_run(run_dir, device)
    pyro.set_rng_seed(seed)
    module: Any = stepper.module
    dev = resolve_device(device)
    args = model_args(cfg, "test", dev)  # (x,) or, for a model of labels=True, (x, y)
    if limit:
        # A random subset, never a prefix: some test splits are sorted by class.
        keep = torch.randperm(args[0].shape[0], generator=torch.Generator().manual_seed(0))
        args = tuple(a[keep[:limit].to(dev)] for a in args)
    x = args[0]
    result: dict[str, Any] = {"run": str(run_dir), "test_examples": int(x.shape[0]), "seed": seed}
    if isinstance(module, GANPair):
        return _eval_samples(module, x, result, Path(run_dir))
    if isinstance(module, DistillationPair):
        return _eval_distillation(module, x, result, Path(run_dir))
    if not implements(module, ModelGuidePair):
        raise SystemExit(f"error: model {cfg.model!r} has no model/guide pair to evaluate")
    given = " | y" if len(args) > 1 else ""
    first = tuple(a[:2] for a in args)
    with pyro.validation_enabled(False), torch.no_grad():
        model_only = model_only_latents(module, first)
        global_sites = global_latent_sites(module.model, module.guide, *first)
        has_latents = _samples_latents(module, first) or bool(model_only)
        # Without latent variables the ELBO is log p(x) itself: reported once, as the NLL.
        # With global latents a test ELBO would count their KL once per batch.
        if has_latents and not global_sites:
            enumerated = any(model_only.values())
            result["test_elbo"], result["test_elbo_se"] = _test_elbo(module, args, enumerated)
        # Under torchrun every rank evaluates its shard of the test set (of row indices, so
        # that the labels follow their images).
        init_from_env(dev)
        rows = torch.arange(x.shape[0], device=dev)
        if _samples_latents(module, first) or not implements(module, ExactDensity):

            def estimate(m: Any, idx: torch.Tensor, **kw: Any) -> torch.Tensor:
                extra = tuple(a[idx] for a in args[1:])
                return log_likelihood(m.model, m.guide, x[idx], args=extra, **kw)

            log_px = sharded_log_likelihood(
                estimate,
                module,
                rows,
                num_samples=num_samples,
                global_latents="posterior" if global_sites else "error",
            )
        else:  # an exact density (autoregressive, flow): log p(x) needs no importance samples
            log_px = torch.cat(
                [module.log_prob(*(a[i : i + 500] for a in args)) for i in range(0, len(x), 500)]
            )
            num_samples = 0
        result["test_nll"] = float(-log_px.mean())
        result["test_nll_se"] = _se(log_px)
        discrete = x.dim() == 4 and _x_is_discrete(module, first)
    if not is_rank0():
        return result
    result["nll_samples"] = num_samples
    if given:
        result["nll_of"] = "p(x | y)"
    if global_sites:
        result["nll_of"] = f"posterior predictive p(x{given}) over {', '.join(global_sites)}"
    with pyro.validation_enabled(False), torch.no_grad():
        if given or global_sites:
            latent: dict[str, Any] = {}  # active units and ELBO surgery take x alone
        elif model_only:  # p(z) is a mixture over model-only sites: no ELBO surgery
            latent = {"active_units": str(active_units(module, x))}
        else:
            latent = latent_report(module, x)
    result.update(latent)
    _print_likelihoods(result, module, x, global_sites, num_samples, given)
    if discrete:  # nats per example -> bits per dimension of the discrete levels
        per_dim = x[0].numel() * math.log(2)
        result["bits_per_dim"] = result["test_nll"] / per_dim
        result["bits_per_dim_se"] = result["test_nll_se"] / per_dim
        print(
            f"bits/dim  : {result['bits_per_dim']:.4f} ± {result['bits_per_dim_se']:.4f} "
            f"(the NLL above over {x[0].numel()} dimensions)"
        )
    for key, value in latent.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<28}: {shown}")
    (Path(run_dir) / "eval.json").write_text(json.dumps(result, indent=2))
    return result


def _print_likelihoods(
    result: dict[str, Any],
    module: Any,
    x: torch.Tensor,
    global_sites: list[str],
    num_samples: int,
    given: str,
) -> None:
    """Prints the test ELBO and NLL with their standard errors, each saying what it is."""
    if "test_elbo" in result:
        print(
            f"test ELBO : {result['test_elbo']:.3f} ± {result['test_elbo_se']:.3f} nats per "
            f"example (10 particles)"
        )
    elif global_sites:
        print(f"test ELBO : not reported: global latent(s) {', '.join(global_sites)}")
    if global_sites:
        how = f"posterior predictive, {num_samples} draws of {', '.join(global_sites)}"
    elif num_samples:
        how = f"{num_samples} IS samples"
    elif getattr(module, "dequantize", None) is not None:
        how = "dequantization bound: one uniform draw per example, E_u log p <= log P"
    else:
        how = "exact: no latent variables"
    nll, se = result["test_nll"], result["test_nll_se"]
    print(f"test NLL  : {nll:.3f} ± {se:.3f} nats per example ({how}){given and ', of x | y'}")
    if x.dim() == 2:  # 1-D signals (N, T): also per step
        result["test_nll_per_step"] = nll / x.shape[1]
        print(
            f"test NLL  : {result['test_nll_per_step']:.4f} ± {se / x.shape[1]:.4f} nats per "
            f"step (T = {x.shape[1]})"
        )


def _eval_samples(
    module: Any, x: torch.Tensor, result: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """Implicit models have no likelihood: compare their samples with the test set by MMD
    and by a classifier two-sample test (accuracy 0.5 = indistinguishable)."""
    from pyrogen.metrics import c2st, mmd

    n = min(1000, x.shape[0])
    with torch.no_grad():
        fake = module.sample(n).reshape(n, -1)
    real = x[:n].reshape(n, -1)
    result["mmd2"] = float(mmd(fake, real))
    result["c2st_accuracy"] = float(c2st(fake, real))
    print(f"MMD^2 (samples vs test) : {result['mmd2']:.4f}")
    print(f"C2ST accuracy           : {result['c2st_accuracy']:.3f} (0.5 = indistinguishable)")
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    return result


def _eval_distillation(
    module: DistillationPair, x: torch.Tensor, result: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """A distilled student has no tractable log p(x): report how its teacher scores its
    samples against the teacher's own, and the KL estimate."""
    r = distillation_report(module, x)
    result.update(r)
    n, t = r["num_samples"], r["length"]
    print(
        f"teacher log-lik per step: own samples {r['teacher_ll_own_per_step']:.4f}, student "
        f"samples {r['teacher_ll_student_per_step']:.4f}, gap {r['ll_gap_per_step']:.4f}"
    )
    if "teacher_ll_test_per_step" in r:
        print(f"teacher log-lik per step of the test set: {r['teacher_ll_test_per_step']:.4f}")
    print(f"KL(p_S || p_T) estimate: {r['kl']:.3f} nats per signal ({r['kl_per_step']:.4f}/step)")
    print(
        f"sampling {n} x T = {t}: student {r['student_sample_seconds']:.3f} s, teacher "
        f"{r['teacher_sample_seconds']:.3f} s"
    )
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    return result
