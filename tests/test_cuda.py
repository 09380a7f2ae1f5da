"""Checks that need a CUDA device: device placement of every model family, bf16 autocast,
the fast path on CUDA against the CPU on the same draws, and DDP over NCCL.

Every test here is marked ``cuda``: without a device they are reported as skipped, "not
applicable" (see ``tests/conftest.py``), never as passed. Run them with ``pytest -m cuda`` or
``bash benchmarks/gpu_check.sh`` on a machine with a GPU.
"""

from __future__ import annotations

import copy
import datetime
import socket
from typing import Any

import pytest
import torch
import torch.distributed as dist
from pyro.infer import Trace_ELBO

from pyrogen.cli.registry import list_models
from pyrogen.cli.runs import TrainConfig, build_stepper, model_args
from pyrogen.infer import SVITrainer, VQVAETrainer, fit
from pyrogen.infer.distributed import DistContext, shutdown
from pyrogen.infer.fast_elbo import VAEObjective
from pyrogen.infer.vae_backward import ManualBackward
from pyrogen.models import (
    VAE,
    VQVAE,
    GaussianMixture,
    InfoVAE,
    LinearGaussianVAE,
    RNNDensity,
    TransformerDensity,
)
from pyrogen.objectives import InfoVAE_ELBO

pytestmark = pytest.mark.cuda

# Every model of the command line except ``distill``, which needs a trained teacher run.
CLI_MODELS = [name for name in list_models() if name != "distill"]
DATASET = {"wavenet": "signals"}


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _assert_on(device: str, module: torch.nn.Module, outputs: Any) -> None:
    params = list(module.parameters()) + list(module.buffers())
    assert params, type(module).__name__
    off = [n for n, p in [*module.named_parameters(), *module.named_buffers()]]
    off = [n for n, p in zip(off, params) if p.device.type != device]
    assert not off, f"{type(module).__name__}: not on {device}: {off}"
    outs = _tensors(outputs)
    assert outs, "no output tensors"
    assert all(t.device.type == device for t in outs), [t.device for t in outs]


def cli_model_step(name: str, device: str) -> None:
    """The model ``name`` of the command line, built tiny, moved to ``device``: one step and
    one draw, everything on ``device``."""
    cfg = TrainConfig(model=name, dataset=DATASET.get(name, "digits"), hidden=[16], z_dim=4)
    if name in ("gan", "made", "pixelcnn", "gated_pixelcnn", "pixelcnnpp", "wavenet"):
        cfg.z_dim = None  # not an option of these models
    if name in ("pixelcnn", "gated_pixelcnn", "pixelcnnpp", "wavenet", "flow_density"):
        cfg.hidden = None
    args = model_args(cfg, "test")
    cfg.x_shape = list(args[0].shape[1:])
    stepper = build_stepper(cfg)
    stepper.module.to(device)
    batch = tuple(t[:8].to(device) for t in args)
    if name == "pixelcnnpp":  # digits lie on a 1/16 grid; the discretized logistic needs k/255
        batch = ((batch[0] * 255).round() / 255,)
    metrics = stepper.step(*batch)
    assert all(torch.isfinite(v).all() for v in _tensors(metrics)), metrics
    outputs: list[Any] = [metrics]
    sample = getattr(stepper.module, "sample", None)
    if callable(sample):
        with torch.no_grad():
            outputs.append(sample(2))
    _assert_on(device, stepper.module, outputs)


def other_model_step(kind: str, device: str) -> None:
    """The families without a command-line recipe, built tiny: one step on ``device``."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(8, 1, 8, 8, generator=g).bernoulli(generator=g)
    if kind == "vq_vae":
        vq = VQVAE((1, 8, 8), num_codes=8, code_dim=4, hidden=8).to(device)
        trainer: Any = VQVAETrainer(vq)
        out = [trainer.step(images.to(device)), vq.sample(2)]
    elif kind == "info_vae":
        info = InfoVAE((1, 8, 8), z_dim=4, hidden=(16,)).to(device)
        trainer = SVITrainer(info, InfoVAE_ELBO.for_model(info))
        out = [trainer.step(images.to(device)), info.sample(2)]
    elif kind in ("rnn_density", "transformer_density"):
        seqs = images.flatten(1)[:, :12]
        ar = (
            RNNDensity(12, hidden=8) if kind == "rnn_density" else TransformerDensity(12, 8, 2, 1)
        ).to(device)
        trainer = SVITrainer(ar)
        out = [trainer.step(seqs.to(device)), ar(seqs.to(device)), ar.sample(2)]
    elif kind == "linear_gaussian_vae":
        lg = LinearGaussianVAE(x_dim=5, z_dim=2).to(device)
        trainer = SVITrainer(lg)
        out = [trainer.step(torch.randn(8, 5, generator=g).to(device)), lg.sample(2)]
    else:
        gm = GaussianMixture(2, 3).to(device)
        x = torch.randn(20, 3, generator=g).to(device)
        history = gm.fit_em(x, num_iters=3)
        assert all(torch.isfinite(torch.tensor(history)))
        _assert_on(device, gm, [gm.log_likelihood(x), gm.sample(2)])
        return
    assert all(torch.isfinite(v).all() for v in _tensors(out[0]))
    _assert_on(device, trainer.module, out)


OTHER_MODELS = [
    "vq_vae",
    "info_vae",
    "rnn_density",
    "transformer_density",
    "linear_gaussian_vae",
    "gaussian_mixture",
]


@pytest.mark.parametrize("name", CLI_MODELS)
def test_cli_model_trains_on_cuda(name):
    cli_model_step(name, "cuda")


@pytest.mark.parametrize("kind", OTHER_MODELS)
def test_model_family_trains_on_cuda(kind):
    other_model_step(kind, "cuda")


def test_bf16_autocast_on_cuda_keeps_float32_parameters():
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=4, hidden=(32,)).cuda()
    trainer = SVITrainer(vae, bf16=True)
    x = torch.rand(64, 1, 8, 8, device="cuda").bernoulli()
    losses = [trainer.step(x)["loss"] for _ in range(5)]
    assert all(torch.isfinite(v) for v in losses), losses
    assert trainer.path == "tracing-free", trainer.path_reason  # autocast runs autograd
    assert all(p.dtype == torch.float32 and p.is_cuda for p in vae.parameters())
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in vae.parameters())


def _cpu_and_cuda_objectives(num_particles: int = 1):
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=4, hidden=(32,))
    cpu = VAEObjective(vae, num_particles=num_particles)
    gpu = VAEObjective(copy.deepcopy(vae).cuda(), num_particles=num_particles)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 1, 8, 8, generator=g).bernoulli(generator=g)
    shape = (32, 4) if num_particles == 1 else (num_particles, 32, 4)
    eps = torch.randn(shape, generator=g)  # drawn on the CPU: the same draws on both devices
    return cpu, gpu, x, eps


@pytest.mark.parametrize("num_particles", [1, 3])
def test_fast_path_on_cuda_equals_cpu_on_the_same_draws(num_particles):
    cpu, gpu, x, eps = _cpu_and_cuda_objectives(num_particles)
    want = cpu.loss_from_noise(x, eps)
    want.backward()
    got = gpu.loss_from_noise(x.cuda(), eps.cuda())
    got.backward()
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    for (name, p), q in zip(cpu.vae.named_parameters(), gpu.vae.parameters()):
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_hand_derived_gradient_on_cuda_equals_cpu_autograd():
    cpu, gpu, x, eps = _cpu_and_cuda_objectives()
    want = cpu.loss_from_noise(x, eps)
    want.backward()
    got = ManualBackward(gpu)(x.cuda(), eps.cuda())
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    for (name, p), q in zip(cpu.vae.named_parameters(), gpu.vae.parameters()):
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_trainer_takes_the_hand_derived_path_on_cuda():
    torch.manual_seed(0)
    trainer = SVITrainer(VAE((1, 8, 8), z_dim=4, hidden=(32,)).cuda(), Trace_ELBO())
    x = torch.rand(64, 1, 8, 8, device="cuda").bernoulli()
    for _ in range(3):
        loss = trainer.step(x)["loss"]
    assert trainer.path == "hand-derived", trainer.path_reason
    assert loss.is_cuda and torch.isfinite(loss)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_over_nccl_in_one_process_equals_plain_steps():
    """A world-size-1 NCCL group: the DDP-wrapped step (NCCL all-reduce of the gradients)
    equals the plain step on the same draws, and ``fit`` trains under the group."""
    dist.init_process_group(
        "nccl",
        init_method=f"tcp://127.0.0.1:{_free_port()}",
        rank=0,
        world_size=1,
        timeout=datetime.timedelta(minutes=2),
    )
    try:
        torch.manual_seed(0)
        plain = SVITrainer(VAE((1, 8, 8), z_dim=4, hidden=(32,)).cuda(), lr=1e-2)
        ddp = SVITrainer(copy.deepcopy(plain.module), lr=1e-2)
        ddp.distribute(DistContext(0, 1, torch.device("cuda", 0)))
        x = torch.rand(40, 1, 8, 8, device="cuda").bernoulli()
        for trainer in (plain, ddp):
            torch.manual_seed(1)
            losses = [trainer.step(x)["loss"] for _ in range(4)]
            trainer.losses = losses  # type: ignore[attr-defined]
        for a, b in zip(plain.losses, ddp.losses):  # type: ignore[attr-defined]
            assert a.item() == pytest.approx(b.item(), rel=1e-5)
        for (name, p), q in zip(plain.module.named_parameters(), ddp.module.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)
        # fit under the group: the DDP-wrapped trainer keeps stepping through NCCL
        history = fit(ddp, x, epochs=2, batch_size=20, progress=False, seed=0, device="cuda")
        assert [h["epoch"] for h in history] == [1, 2]
        assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
        shutdown(ddp)  # the orderly end: DDP released, then the group destroyed
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
