"""``pyrogen eval``: test metrics of a run directory, chosen by the kind of model.

Models with latent variables get the test ELBO, the importance-sampled NLL and the latent
report (active units, ELBO surgery); exact densities get log p(x) directly; implicit models
(GANs) get MMD and a classifier two-sample test; distilled students get their teacher's
scores of their samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyro
import torch

from pyrogen.infer import resolve_device
from pyrogen.infer.adversarial import GANPair
from pyrogen.infer.distillation import DistillationPair
from pyrogen.infer.distillation_cli import distillation_report
from pyrogen.infer.distributed import init_from_env, sharded_log_likelihood
from pyrogen.infer.fit import epoch_generator
from pyrogen.runs import is_rank0, load_run, load_split


def _samples_latents(module: Any, x: torch.Tensor) -> bool:
    """Whether ``module.guide(x)`` draws any latent variable."""
    with torch.random.fork_rng(devices=[]):
        trace = pyro.poutine.trace(module.guide).get_trace(x)
    sites = pyro.poutine.util.prune_subsample_sites(trace).nodes.values()
    return any(site["type"] == "sample" for site in sites)


def cmd_eval(run_dir: str, num_samples: int, device: str, limit: int | None) -> dict[str, Any]:
    from pyrogen.metrics import latent_report, log_likelihood

    cfg, stepper = load_run(run_dir, device)
    module: Any = stepper.module
    dev = resolve_device(device)
    x = load_split(cfg, "test").epoch(epoch_generator(cfg.seed, -1)).to(dev)
    if limit:
        # A random subset, never a prefix: some test splits are sorted by class.
        keep = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:limit]
        x = x[keep.to(x.device)]
    result: dict[str, Any] = {"run": str(run_dir), "test_examples": int(x.shape[0])}
    if isinstance(module, GANPair):
        return _eval_samples(module, x, result, Path(run_dir))
    if isinstance(module, DistillationPair):
        return _eval_distillation(module, x, result, Path(run_dir))
    if not (callable(getattr(module, "model", None)) and callable(getattr(module, "guide", None))):
        raise SystemExit(f"error: model {cfg.model!r} has no model/guide pair to evaluate")
    with pyro.validation_enabled(False), torch.no_grad():
        elbo = pyro.infer.Trace_ELBO(num_particles=10, vectorize_particles=False)
        total = sum(
            elbo.loss(module.model, module.guide, x[i : i + 500]) for i in range(0, len(x), 500)
        )
        result["test_elbo"] = -total / x.shape[0]
        # Under torchrun every rank evaluates its shard of the test set.
        init_from_env(dev)
        if _samples_latents(module, x[:1]) or not callable(getattr(module, "log_prob", None)):
            log_px = sharded_log_likelihood(log_likelihood, module, x, num_samples=num_samples)
        else:  # an exact density (autoregressive, flow): log p(x) needs no importance samples
            log_px = torch.cat([module.log_prob(x[i : i + 500]) for i in range(0, len(x), 500)])
            num_samples = 0
        result["test_nll"] = float(-log_px.mean())
    if not is_rank0():
        return result
    result["nll_samples"] = num_samples
    with pyro.validation_enabled(False), torch.no_grad():
        latent = latent_report(module, x)
    result.update(latent)
    print(f"test ELBO : {result['test_elbo']:.3f} nats per example (10 particles)")
    how = f"{num_samples} IS samples" if num_samples else "exact: no latent variables"
    print(f"test NLL  : {result['test_nll']:.3f} nats per example ({how})")
    if x.dim() == 2:  # 1-D signals (N, T): also per step
        result["test_nll_per_step"] = result["test_nll"] / x.shape[1]
        print(f"test NLL  : {result['test_nll_per_step']:.4f} nats per step (T = {x.shape[1]})")
    for key, value in latent.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<28}: {shown}")
    (Path(run_dir) / "eval.json").write_text(json.dumps(result, indent=2))
    return result


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
