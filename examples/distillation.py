"""Probability density distillation: a parallel IAF student for a WaveNet teacher.

A Gaussian WaveNet teacher p_T(x) = prod_t N(x_t | mu_t(x_<t), sigma_t^2) is fitted by maximum
likelihood to generated 1-D signals (AR(2) processes, noisy sine and sawtooth waves); an IAF
student x = f(z), z ~ N(0, I) is then trained with ``fit`` to minimize KL(p_S || p_T), using the
closed-form student entropy and one teacher pass per batch of student samples. The script
prints the teacher's log-likelihood per step of its own samples and of the student's, and the
time each takes to draw::

    python examples/distillation.py --length 256 --teacher-steps 1500 --student-steps 1500
    python examples/distillation.py --smoke-test
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyro
import torch

from pyrogen.data import signal_mixture
from pyrogen.infer import DensityDistillation, SVITrainer, fit, resolve_device
from pyrogen.models import IAFStudent, WaveNet


def train_teacher(
    length: int, steps: int, batch: int, channels: int, layers: int, lr: float, seed: int, device
) -> WaveNet:
    """A Gaussian WaveNet fitted to fresh batches of :func:`signal_mixture` signals."""
    g = torch.Generator().manual_seed(seed)
    teacher = WaveNet(length, channels=channels, num_layers=layers, likelihood="gaussian")
    teacher = teacher.to(device)
    trainer = SVITrainer(teacher, lr=lr)
    for step in range(steps):
        loss = trainer.step(signal_mixture(batch, length, generator=g)[0].to(device))["loss"]
        if step % 250 == 0:
            print(f"teacher step {step}: NLL per step {float(loss) / length:.3f} nats")
    return teacher.eval()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(args: argparse.Namespace) -> dict[str, float]:
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(args.seed)
    device = resolve_device(args.device)
    length, t_steps, s_steps, channels = args.length, args.teacher_steps, args.student_steps, 32
    if args.smoke_test:
        length, t_steps, s_steps, channels = 32, 10, 10, 8
    teacher = train_teacher(length, t_steps, 32, channels, 8, 2e-3, args.seed, device)
    student = IAFStudent(length, num_flows=4, channels=channels, num_layers=4).to(device)
    stepper = DensityDistillation(teacher, student, lr=args.lr)
    # The stepper draws its own noise: the "data" only sets steps per epoch and batch size.
    history = fit(
        stepper,
        torch.zeros(s_steps * args.batch_size, 1),
        epochs=1,
        batch_size=args.batch_size,
        device=device,
        seed=args.seed,
        out=args.out,
    )
    n = 16
    own, t_teacher = timed(lambda: teacher.sample(n, cached=True))
    draws, t_student = timed(lambda: student.sample(n))
    with torch.no_grad():
        ll_own = float(teacher.log_prob(own).mean()) / length
        ll_student = float(teacher.log_prob(draws).mean()) / length
        kl = float(stepper.evaluate(torch.zeros(256, 1, device=device))["kl"]) / length
    print(
        f"teacher log-lik per step: own samples {ll_own:.3f}, student samples {ll_student:.3f}; "
        f"KL(p_S || p_T) per step {kl:.3f} nats"
    )
    print(
        f"drawing {n} x {length}: teacher (cached) {t_teacher:.3f} s, student {t_student:.4f} s "
        f"({t_teacher / t_student:.0f}x)"
    )
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
        for ax, x, name in ((axes[0], own, "teacher"), (axes[1], draws, "student")):
            for s in x[:3].cpu():
                ax.plot(s.numpy(), lw=0.8)
            ax.set_title(f"{name} samples")
        Path(args.out).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(args.out) / "distillation_samples.png", dpi=100)
        plt.close(fig)
    return {
        "teacher_ll_own": ll_own,
        "teacher_ll_student": ll_student,
        "kl_per_step": kl,
        "final_loss": history[-1]["train_loss"],
        "speedup": t_teacher / t_student,
    }


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--length", type=int, default=128)
parser.add_argument("--teacher-steps", type=int, default=1000)
parser.add_argument("--student-steps", type=int, default=1000)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default=None, help="directory for checkpoints, metrics and plots")
parser.add_argument("--device", default="auto")
parser.add_argument("--smoke-test", action="store_true")

if __name__ == "__main__":
    main(parser.parse_args())
