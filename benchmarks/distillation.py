"""Density distillation: parallel IAF student vs WaveNet teacher, sampling time and quality.

A Gaussian WaveNet teacher (32 channels, 10 dilated layers, receptive field 1024) is fitted
to generated signals (:func:`pyrogen.data.signal_mixture`) at length ``--train-length``, an IAF
student (4 flows of causal-conv conditioners) is distilled from it, and both are then run at
T = 1024 and 16384 (both are convolutional, so the trained weights apply at any length).
Reported: seconds to draw ``--n`` signals by the student (4 parallel passes), the teacher's
cached path (T incremental steps) and its naive path (T full passes; at 16384 the naive time is
T x the measured time of one full pass, marked as extrapolated), and the teacher's
log-likelihood per step of its own samples and of the student's. All three are timed the same
way: ``--repeats`` rounds, each timing the student, the cached teacher and the naive teacher
(or its full pass) once, one after the other; the table gives each one's median and range over
rounds, and the speed-ups are the median (range) of the ratios within a round::

    OMP_NUM_THREADS=1 python benchmarks/distillation.py --teacher-steps 800 --student-steps 800

Results go to ``benchmarks/results/distillation.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyro
import torch

from pyrogen.data import signal_mixture
from pyrogen.infer import DensityDistillation, SVITrainer, fit
from pyrogen.models import IAFStudent, WaveNet

WAVENET = {"channels": 32, "num_layers": 10, "likelihood": "gaussian"}


def _rounds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each call, ``repeats`` rounds of every function once, in turn."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def _spread(xs: list[float], fmt: str, unit: str = "") -> str:
    return f"{statistics.median(xs):{fmt}}{unit} ({min(xs):{fmt}}-{max(xs):{fmt}}{unit})"


def _row(length: int, teacher: WaveNet, student: IAFStudent, args: argparse.Namespace) -> str:
    """One table row: sampling times and the teacher's log-likelihoods at length T."""
    n, ll_n = args.n, args.ll_n
    big = WaveNet(length, **WAVENET).eval()  # type: ignore[arg-type]
    big.load_state_dict(teacher.state_dict())
    extrapolate = length > args.naive_max_length
    fns: dict[str, Callable[[], object]] = {
        "student": lambda: student.sample(n, length=length),
        "cached": lambda: big.sample(n, cached=True),
        # beyond --naive-max-length: one full pass, times T below
        "naive": (lambda: big(torch.zeros(n, length)))
        if extrapolate
        else (lambda: big.sample(n, cached=False)),
    }
    with torch.no_grad():
        fns["student"]()  # warm-up: first-call allocations and kernel selection
        t = _rounds(fns, args.repeats)
        if extrapolate:
            t["naive"] = [s * length for s in t["naive"]]
        vs_naive = [a / b for a, b in zip(t["naive"], t["student"])]
        vs_cached = [a / b for a, b in zip(t["cached"], t["student"])]
        # Quality on more signals than are timed: the per-signal log-likelihood varies
        # with the family (AR(2), sine, sawtooth) a draw lands in.
        g = torch.Generator().manual_seed(1)
        xt = big.sample(ll_n, cached=True, generator=g)
        xs = student.sample(ll_n, length=length, generator=g)
        ll_t = big.log_prob(xt) / length
        ll_s = big.log_prob(xs) / length
        se = float((ll_t.var() / ll_n + ll_s.var() / ll_n).sqrt())
        ll_t, ll_s = float(ll_t.mean()), float(ll_s.mean())
    naive = _spread(t["naive"], ".0f" if extrapolate else ".2f")
    row = (
        f"| {length} | {_spread(t['student'], '.4f')} | {_spread(t['cached'], '.2f')} | "
        f"{naive}{' (extrapolated)' if extrapolate else ''} | {_spread(vs_naive, '.0f', 'x')} | "
        f"{_spread(vs_cached, '.0f', 'x')} | {ll_t:.3f} | {ll_s:.3f} | "
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
    history = fit(
        stepper, torch.zeros(args.student_steps * 32, 1), epochs=1, batch_size=32, device="cpu"
    )
    train_s = time.perf_counter() - t0
    load_start = os.getloadavg()
    rows = [_row(length, teacher, student, args) for length in args.lengths]
    kl = history[-1].get("train_kl") if history else None
    kl_text = (
        f"The student's mean KL(p_S || p_T) estimate over its training epoch: {kl:.1f} nats per "
        f"{args.train_length}-step signal ({kl / args.train_length:.3f} nats/step). "
        if kl is not None
        else ""
    )
    header = [
        "# Density distillation: student vs teacher sampling",
        "",
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/distillation.py {' '.join(args.argv)}`; "
        f"one CPU thread ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"shared with other busy processes: load average {_load(load_start)} after training, "
        f"{_load(os.getloadavg())} at the end, so absolute times are upper bounds), torch "
        f"{torch.__version__}. Training both took {train_s:.0f} s. {kl_text}Times are seconds "
        f"to draw {args.n} signal(s): {args.repeats} rounds, each timing the student, the "
        "cached teacher and the naive teacher once in turn (after one untimed student draw); "
        "median (range) over rounds, speed-ups as the median (range) of the ratios within a "
        f"round. Log-likelihoods are the teacher's, in nats per step, averaged over {args.ll_n} "
        f"of its own cached samples and {args.ll_n} of the student's; the last column is their "
        "difference +- one standard error.",
        "",
        "| T | student s | teacher cached s | teacher naive s | speed-up vs naive | "
        "speed-up vs cached | teacher LL own | teacher LL student | student - own |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    text = "\n".join(header + rows) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")


def _load(avg: tuple[float, ...]) -> str:
    return "/".join(f"{a:.1f}" for a in avg)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--train-length", type=int, default=256)
parser.add_argument("--teacher-steps", type=int, default=800)
parser.add_argument("--student-steps", type=int, default=800)
parser.add_argument("--n", type=int, default=1, help="signals per timed draw")
parser.add_argument("--ll-n", type=int, default=16, help="signals per log-likelihood average")
parser.add_argument("--repeats", type=int, default=3, help="timing rounds per length")
parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 16384])
parser.add_argument(
    "--naive-max-length", type=int, default=1024, help="longer: naive time extrapolated"
)
parser.add_argument("--smoke", action="store_true", help="tiny run, nothing written")
parser.add_argument("--out", default="benchmarks/results/distillation.md")

if __name__ == "__main__":
    ns = parser.parse_args()
    ns.argv = sys.argv[1:]
    if ns.smoke:
        ns.teacher_steps, ns.student_steps, ns.train_length, ns.lengths = 2, 2, 64, [256, 512]
        ns.naive_max_length, ns.repeats, ns.ll_n, ns.out = 256, 2, 4, None
    main(ns)
