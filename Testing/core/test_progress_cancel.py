"""Progress granularity and Cancel in the long core functions (issue 14 section 4): the dose
convolution reports before each FFT and stops at the FFT where the callback raises
``Cancelled``; a study registration stops inside the optimiser. Timing is measured in
``benchmarks/bench_progress.py``, not asserted here."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.dose.compute import compute_dose
from theranostics.progress import Cancelled
from theranostics.study import register_study


def _tia() -> sitk.Image:
    arr = np.zeros((24, 24, 24), dtype=np.float32)
    arr[10:14, 10:14, 10:14] = 5.0  # MBq·h per voxel
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((4.8, 4.8, 4.8))
    return image


def test_dose_reports_every_fft_and_cancels_between_them():
    calls = []
    dose = compute_dose(_tia(), "Lu-177", progress=lambda f, m: calls.append((f, m)))
    messages = [m for _, m in calls]
    for step in ("kernel spectrum (FFT)", "activity spectrum (FFT)", "inverse FFT"):
        assert step in messages
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert float(sitk.GetArrayViewFromImage(dose).max()) > 0.0

    seen = []

    def cancel_at_inverse(fraction, message):
        seen.append(message)
        if message == "inverse FFT":
            raise Cancelled()

    with pytest.raises(Cancelled):
        compute_dose(_tia(), "Lu-177", progress=cancel_at_inverse)
    assert seen[-1] == "inverse FFT"  # nothing ran after the cancelling call


@pytest.mark.slow
def test_register_study_cancel_stops_inside_the_first_registration(small_study_loaded):
    study = small_study_loaded
    seen = []

    def cancel_at_third_iteration(fraction, message):
        seen.append(message)
        if sum("iteration" in m for m in seen) == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        register_study(study, progress=cancel_at_third_iteration)
    assert sum("iteration" in m for m in seen) == 3
    assert not any("registering" in m and "96h" in m for m in seen)  # later sessions never start
