"""The generated 1-D signal set: shapes, families and their second-order statistics."""

from __future__ import annotations

import pytest
import torch

from pyrogen.data import SIGNAL_KINDS, ar2_signals, periodic_signals, signal_mixture
from pyrogen.metrics import power_spectrum


def test_mixture_shapes_and_every_family_present():
    x, kind = signal_mixture(300, 64, generator=torch.Generator().manual_seed(0))
    assert x.shape == (300, 64) and x.dtype == torch.float32
    assert set(kind.tolist()) == set(range(len(SIGNAL_KINDS)))


def test_ar2_signals_have_about_unit_stationary_variance():
    x = ar2_signals(400, 400, torch.Generator().manual_seed(1))
    # The scaling uses the stationary variance formula; after the start-up transient the
    # empirical variance must agree with it.
    assert abs(x[:, 200:].var().item() - 1.0) < 0.1


def test_sine_spectrum_peaks_at_its_frequency():
    g = torch.Generator().manual_seed(2)
    x = periodic_signals(50, 512, "sine", noise=0.1, generator=g)
    # Frequencies are drawn in [0.02, 0.1] cycles/step: the periodogram peak must lie there.
    peak = power_spectrum(x).argmax().item() / 512
    assert 0.02 <= peak <= 0.1


def test_bad_arguments_fail_fast():
    with pytest.raises(ValueError, match="kind"):
        periodic_signals(2, 8, "square")
    with pytest.raises(ValueError, match="length"):
        signal_mixture(2, 1)
