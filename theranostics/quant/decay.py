"""Physical decay arithmetic.

A(t) = A0 * exp(-lambda * t), lambda = ln 2 / T1/2. For an acquisition of length dt starting
at t0, the counts measure the activity averaged over [t0, t0 + dt], which is
A(t0) * (1 - exp(-lambda dt)) / (lambda dt); its inverse is the "decay during acquisition"
correction. The time whose instantaneous activity equals that average (the "frame reference
time" of DICOM PET) is t0 + ln(lambda dt / (1 - exp(-lambda dt))) / lambda.
Reference: Cherry, Sorenson & Phelps, Physics in Nuclear Medicine, 4th ed., ch. 4; DICOM
PS3.3 C.8.9.4 (Frame Reference Time, Decay Factor).
"""

from __future__ import annotations

import math
from datetime import datetime


def decay_factor(elapsed_s: float, half_life_s: float) -> float:
    """Fraction remaining after ``elapsed_s`` seconds: 2^(-elapsed/T1/2). Negative elapsed
    time gives a factor above 1 (activity earlier in time)."""
    if half_life_s <= 0 or not math.isfinite(half_life_s):
        from ..errors import NuclideError  # an InputError, hence also a ValueError

        raise NuclideError(
            f"half-life must be positive and finite, got {half_life_s} s",
            tag="RadionuclideHalfLife (0018,1075) / half-life",
            fix="give the half-life in seconds, or the nuclide (its ICRP 107 value is used)",
        )
    return 2.0 ** (-elapsed_s / half_life_s)


def elapsed_s(start: datetime, end: datetime) -> float:
    """Seconds from ``start`` to ``end`` (negative if ``end`` is earlier)."""
    return (end - start).total_seconds()


def acquisition_average_factor(duration_s: float, half_life_s: float) -> float:
    """Mean activity over an acquisition divided by the activity at its start:
    (1 - exp(-lambda dt)) / (lambda dt); 1 for dt = 0."""
    if duration_s < 0:
        raise ValueError(f"duration must be >= 0 s, got {duration_s}")
    x = math.log(2.0) * duration_s / half_life_s
    return 1.0 if x < 1e-12 else -math.expm1(-x) / x


def frame_reference_offset_s(duration_s: float, half_life_s: float) -> float:
    """Offset (s) after the acquisition start whose instantaneous activity equals the mean
    activity over the acquisition (DICOM Frame Reference Time for one frame)."""
    lam = math.log(2.0) / half_life_s
    return -math.log(acquisition_average_factor(duration_s, half_life_s)) / lam
