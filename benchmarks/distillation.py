"""Density distillation: parallel IAF student vs WaveNet teacher, sampling time and quality.

A Gaussian WaveNet teacher (32 channels, 10 dilated layers, receptive field 1024) is fitted
to generated signals (:func:`pyrogen.data.signal_mixture`) at length ``--train-length``, an IAF
student (4 flows of causal-conv conditioners) is distilled from it, and both are then run at
T = 1024 and 16384 (both are convolutional, so the trained weights apply at any length).
Reported: seconds to draw ``--n`` signals by the student (4 parallel passes), the teacher's
cached path (T incremental steps) and its naive path (T full passes; at 16384 the naive time is
T x the measured time of one full pass, marked as extrapolated), and the teacher's
log-likelihood per step of its own samples and of the student's::

    OMP_NUM_THREADS=1 python benchmarks/distillation.py --teacher-steps 800 --student-steps 800

Results go to ``benchmarks/results/distillation.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pyro
import torch

from pyrogen.data import signal_mixture
from pyrogen.models import IAFStudent, WaveNet
from pyrogen.train import DensityDistillation, SVITrainer, fit

WAVENET = {"channels": 32, "num_layers": 10, "likelihood": "gaussian"}


def _time(fn, repeat: int = 1) -> tuple[torch.Tensor, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    assert out is not None
    return out, best


def _row(length: int, teacher: WaveNet, student: IAFStudent, n: int, ll_n: int) -> str:
    """One table row: sampling times and the teacher's log-likelihoods at length T."""
    big = WaveNet(length, **WAVENET).eval()  # type: ignore[arg-type]
    big.load_state_dict(teacher.state_dict())
    with torch.no_grad():
        xs, t_student = _time(lambda: student.sample(n, length=length), repeat=3)
        xt, t_cached = _time(lambda: big.sample(n, cached=True))
        if length <= 1024:
            _, t_naive = _time(lambda: big.sample(n, cached=False))
            naive = f"{t_naive:.2f}"
        else:
            _, t_pass = _time(lambda: big(torch.zeros(n, length)), repeat=2)
            t_naive = t_pass * length
            naive = f"{t_naive:.0f} (extrapolated)"
        # Quality on more signals than are timed: the per-signal log-likelihood varies
        # with the family (AR(2), sine, sawtooth) a draw lands in.
        g = torch.Generator().manual_seed(1)
        xt = big.sample(ll_n, cached=True, generator=g)
        xs = student.sample(ll_n, length=length, generator=g)
        ll_t = big.log_prob(xt) / length
        ll_s = big.log_prob(xs) / length
        se = float((ll_t.var() / ll_n + ll_s.var() / ll_n).sqrt())
        ll_t, ll_s = float(ll_t.mean()), float(ll_s.mean())
    row = (
        f"| {length} | {t_student:.4f} | {t_cached:.2f} | {naive} | "
        f"{t_naive / t_student:.0f}x | {t_cached / t_student:.0f}x | {ll_t:.3f} | {ll_s:.3f} | "
        f"{ll_s - ll_t:+.3f} +- {se:.3f} |"
    )
    print(row, flush=True)
    return row


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    pyro.settings.set(module_local_params=True)
    pyro.set_rng_seed(0)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    teacher = WaveNet(args.train_length, **WAVENET)  # type: ignore[arg-type]
    trainer = SVITrainer(teacher, lr=2e-3)
    for _ in range(args.teacher_steps):
        trainer.step(signal_mixture(32, args.train_length, generator=g)[0])
    student = IAFStudent(args.train_length, num_flows=4, channels=32, num_layers=4)
    stepper = DensityDistillation(teacher.eval(), student, lr=1e-3)
    fit(stepper, torch.zeros(args.student_steps * 32, 1), epochs=1, batch_size=32, device="cpu")
    train_s = time.perf_counter() - t0
    rows = [_row(length, teacher, student, args.n, args.ll_n) for length in (1024, 16384)]
    out = Path(__file__).parent / "results" / "distillation.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "# Density distillation: student vs teacher sampling",
        "",
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/distillation.py --teacher-steps "
        f"{args.teacher_steps} --student-steps {args.student_steps} --train-length "
        f"{args.train_length} --n {args.n} --ll-n {args.ll_n}`; one CPU thread "
        f"({platform.processor() or 'cpu'}, "
        f"a shared, heavily loaded machine), torch {torch.__version__}. Training both took "
        f"{train_s:.0f} s. Times are seconds to draw {args.n} signal(s) (best of 3 for the "
        f"student). Log-likelihoods are the teacher's, in nats per step, averaged over "
        f"{args.ll_n} of its own cached samples and {args.ll_n} of the student's; the last "
        "column is their difference +- one standard error.",
        "",
        "| T | student s | teacher cached s | teacher naive s | speed-up vs naive | "
        "speed-up vs cached | teacher LL own | teacher LL student | student - own |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    out.write_text("\n".join(header + rows) + "\n")
    print(f"wrote {out}")


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--train-length", type=int, default=256)
parser.add_argument("--teacher-steps", type=int, default=800)
parser.add_argument("--student-steps", type=int, default=800)
parser.add_argument("--n", type=int, default=1, help="signals per timed draw")
parser.add_argument("--ll-n", type=int, default=16, help="signals per log-likelihood average")

if __name__ == "__main__":
    main(parser.parse_args())
