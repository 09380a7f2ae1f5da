# %% [markdown]
# # Parallel sampling by distillation
#
# An autoregressive teacher p_T(x) = prod_t N(x_t | mu_t(x_<t), sigma_t^2) scores a whole
# signal in one parallel pass but draws it one step at a time. An inverse autoregressive flow
# (IAF) student x_t = sigma_t(z_<t) z_t + mu_t(z_<t), z ~ N(0, I), is the opposite: it draws
# all T steps at once. *Probability density distillation* trains the student to minimize
#
#     KL(p_S || p_T) = E_S log p_S(x) - E_S log p_T(x),
#
# where the student's entropy is known in closed form,
# H(p_S) = E sum_t log sigma_t + T/2 log(2 pi e), and the teacher scores every student
# sample in one pass (van den Oord et al. 2017, https://arxiv.org/abs/1711.10433).
#
# This tutorial
# 1. distills an analytic AR(2) teacher into a linear IAF student and checks the exact
#    Gaussian KL and the autocorrelation;
# 2. fits a Gaussian WaveNet teacher to generated signals (AR(2), sine and sawtooth waves),
#    distills a student with `fit`, and compares samples, spectra, the KL curve and
#    sampling time.

# %%
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pyro
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from pyrogen.data import signal_mixture
from pyrogen.infer import DensityDistillation, SVITrainer, fit
from pyrogen.metrics import autocorrelation, power_spectrum
from pyrogen.models import IAFStudent, WaveNet, ar2_autocorrelation, ar2_teacher, ar_gaussian

SMOKE = "CI" in os.environ or bool(os.environ.get("PYROGEN_SMOKE"))
OUT = Path(os.environ.get("PYROGEN_TUTORIAL_OUT") or "distillation_output")
OUT.mkdir(parents=True, exist_ok=True)
pyro.settings.set(module_local_params=True)
pyro.set_rng_seed(0)
torch.set_num_threads(1)

NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook: show the figures inline


def show(path):
    """Shows a saved figure when run as a notebook."""
    if NOTEBOOK:
        from IPython.display import Image, display

        display(Image(filename=str(path)))


# %% [markdown]
# ## 1. An analytic teacher
# The AR(2) process x_t = 0.5 x_{t-1} - 0.3 x_{t-2} + eps_t is a Gaussian over T steps, and
# a student whose shift is a linear causal filter and whose scale is constant is Gaussian
# too, so KL(p_S || p_T) is exact. We train with the closed-form entropy.

# %%
T = 32
teacher = ar2_teacher(T, 0.5, -0.3)
student = IAFStudent(T, num_flows=1, linear=True, kernel_size=16)
stepper = DensityDistillation(teacher, student, lr=0.03)
t_mean, t_tril = ar_gaussian(teacher)


@torch.no_grad()
def exact_kl() -> float:
    mean, cov = student.gaussian()
    p_s, p_t = MultivariateNormal(mean, cov), MultivariateNormal(t_mean, scale_tril=t_tril)
    return float(kl_divergence(p_s, p_t))


curve = []
for _ in range(60 if SMOKE else 300):
    estimate = float(stepper.step(torch.zeros(128, 1))["kl"])
    curve.append((estimate, exact_kl()))
print(f"exact KL after training: {curve[-1][1]:.4f} nats over {T} steps")
rho_s = autocorrelation(student.sample(1000, length=256), 6)
print("student autocorrelation", [round(float(r), 3) for r in rho_s])
print("AR(2) autocorrelation  ", [round(float(r), 3) for r in ar2_autocorrelation(0.5, -0.3, 6)])

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot([c[0] for c in curve], lw=0.6, label="Monte Carlo estimate (training loss)")
ax.plot([c[1] for c in curve], label="exact KL")
ax.set(yscale="symlog", xlabel="step", ylabel="nats", title="KL(p_S || p_T), AR(2) teacher")
ax.legend()
fig.savefig(OUT / "distillation_ar2_kl.png", dpi=100)
show(OUT / "distillation_ar2_kl.png")
plt.close(fig)

# %% [markdown]
# ## 2. A WaveNet teacher on generated signals
# First the teacher, by maximum likelihood; then the student, trained by `fit`. The stepper
# draws its own noise, so the "data" is a dummy tensor whose size sets the steps per epoch.

# %%
T = 64 if SMOKE else 256
teacher_steps, student_steps, channels = (20, 20, 8) if SMOKE else (800, 800, 32)
g = torch.Generator().manual_seed(0)
wavenet = WaveNet(T, channels=channels, num_layers=8, likelihood="gaussian")
trainer = SVITrainer(wavenet, lr=2e-3)
for _ in range(teacher_steps):
    trainer.step(signal_mixture(32, T, generator=g)[0])
wavenet.eval()
student = IAFStudent(T, num_flows=4, channels=channels, num_layers=4)
stepper = DensityDistillation(wavenet, student, lr=1e-3)
history = fit(stepper, torch.zeros(student_steps * 32 // 4, 1), epochs=4, batch_size=32)
print("KL per step by epoch:", [round(h["train_kl"] / T, 3) for h in history])

# %%
start = time.perf_counter()
own = wavenet.sample(16)
t_teacher = time.perf_counter() - start
start = time.perf_counter()
draws = student.sample(16)
t_student = time.perf_counter() - start
with torch.no_grad():
    ll_own = float(wavenet.log_prob(own).mean()) / T
    ll_student = float(wavenet.log_prob(draws).mean()) / T
print(f"teacher log-lik per step: own samples {ll_own:.3f}, student samples {ll_student:.3f}")
print(f"16 x {T} signals: teacher {t_teacher:.3f} s, student {t_student:.4f} s")
print(
    f"the teacher scores the student's draws {ll_own - ll_student:.3f} nats per step below "
    f"its own; the student draws {t_teacher / t_student:.0f} times faster"
)

fig, axes = plt.subplots(1, 3, figsize=(13, 3))
for s in own[:2]:
    axes[0].plot(s.numpy(), lw=0.8)
axes[0].set_title("teacher samples")
for s in draws[:2]:
    axes[1].plot(s.numpy(), lw=0.8)
axes[1].set_title("student samples")
data = signal_mixture(256, T, generator=g)[0]
for x, name in ((data, "data"), (own, "teacher"), (draws, "student")):
    axes[2].semilogy(power_spectrum(x).numpy(), label=name)
axes[2].set(title="mean periodogram", xlabel="frequency bin")
axes[2].legend()
fig.savefig(OUT / "distillation_wavenet.png", dpi=100)
show(OUT / "distillation_wavenet.png")
plt.close(fig)

# %% [markdown]
# The student's draws cost a handful of parallel passes instead of T sequential ones; see
# `benchmarks/results/distillation.md` for the timings at T = 1024 and 16384.

# %% [markdown]
# The same flow runs from the command line on the built-in `signals` dataset (1-D signals of
# length 128 generated in code, fixed train/test splits):
#
# ```
# pyrogen train wavenet --dataset signals --epochs 10 --out runs/teacher
# pyrogen eval runs/teacher                   # test NLL per signal and per step
# pyrogen train distill --teacher runs/teacher --dataset signals --epochs 4 --out runs/student
# pyrogen eval runs/student                   # teacher log-lik of student vs own samples, KL
# pyrogen sample runs/student -n 16           # line plots of student draws
# ```
#
# `pyrogen eval runs/student` prints the same comparison as the cell above: the teacher's
# log-likelihood of the student's draws against its own draws, and the KL estimate. Reverse
# KL is mode-seeking, so where the teacher's own draws include sharp, high-likelihood
# families that the student does not cover, the teacher scores the student's draws below
# its own.
