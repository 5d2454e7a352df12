"""Validation of time-activity inputs, once, at the boundary of the kinetics package.

Every check raises a specific error of :mod:`theranostics.errors` that names the argument at
fault and what to do: :class:`~theranostics.errors.TimingError` for times (unordered,
duplicated, before administration, non-finite), :class:`~theranostics.errors.InputError`
for activities (NaN/inf, negative, all zero, length mismatch) and for the physical half-life.
Inputs are never modified: validated copies are returned.
"""

from __future__ import annotations

import math

import numpy as np

from theranostics.errors import InputError, TimingError


def physical_rate_per_h(physical_half_life_h: float) -> float:
    """Physical decay constant ``ln 2 / T_phys`` (1/h) after checking ``physical_half_life_h``."""
    try:
        value = float(physical_half_life_h)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0.0:
        raise InputError(
            "physical_half_life_h must be a positive number of hours, "
            f"got {physical_half_life_h!r}",
            tag="physical_half_life_h",
            fix="pass the nuclide's half-life, e.g. get_nuclide('Lu-177').half_life_h (159.5 h)",
        )
    return math.log(2.0) / value


def validate_times(times_h, *, argument: str = "times_h") -> np.ndarray:
    """Times in hours after administration: finite, >= 0, strictly increasing (a 1-D copy)."""
    t = np.array(times_h, dtype=float, copy=True).reshape(-1)
    if t.size == 0:
        raise TimingError(f"{argument} is empty", tag=argument, fix="give at least one time point")
    if not np.all(np.isfinite(t)):
        raise TimingError(
            f"{argument} contains NaN or infinite values: {t.tolist()}",
            tag=argument,
            fix="remove time points whose acquisition time is unknown",
        )
    if np.any(t < 0.0):
        raise TimingError(
            f"{argument} has times before administration (negative hours): {t[t < 0].tolist()}",
            tag=argument,
            fix="times are hours AFTER administration; check the administration datetime",
        )
    steps = np.diff(t)
    if np.any(steps == 0.0):
        raise TimingError(
            f"{argument} has duplicate time points: {t.tolist()}",
            tag=argument,
            fix="merge or drop repeated acquisitions so each time appears once",
        )
    if np.any(steps < 0.0):
        raise TimingError(
            f"{argument} is not in increasing order: {t.tolist()}",
            tag=argument,
            fix="sort the time points (and their activities with them) by time",
        )
    return t


def validate_activities(
    activities_MBq, n_times: int, *, argument: str = "activities_MBq"
) -> np.ndarray:
    """Activities (MBq) of one curve: finite, >= 0, not all zero, one per time point."""
    a = np.array(activities_MBq, dtype=float, copy=True).reshape(-1)
    if a.size != n_times:
        raise InputError(
            f"{argument} has {a.size} values but times_h has {n_times}",
            tag=argument,
            fix="give exactly one activity per time point",
        )
    if not np.all(np.isfinite(a)):
        raise InputError(
            f"{argument} contains NaN or infinite values: {a.tolist()}",
            tag=argument,
            fix="check the quantification of those time points (calibration, masks)",
        )
    if np.any(a < 0.0):
        raise InputError(
            f"{argument} has negative activities: {a.tolist()}",
            tag=argument,
            fix="activities in a region cannot be negative; check background subtraction",
        )
    if not np.any(a > 0.0):
        raise InputError(
            f"{argument} is zero at every time point",
            tag=argument,
            fix="the region holds no activity: check that the mask overlaps the image",
        )
    return a


def validate_sigma(
    activities_MBq: np.ndarray, relative_sd: float, sd_MBq
) -> tuple[np.ndarray, str]:
    """Standard deviations (MBq) of the activities and a description of the weighting.

    ``sd_MBq`` (a number or one value per point) wins when given; otherwise
    ``sigma_i = relative_sd * A_i``, with ``A_i`` floored at 1 % of the largest activity so
    that a zero reading does not get an infinite weight.
    """
    if sd_MBq is not None:
        s = np.broadcast_to(np.asarray(sd_MBq, dtype=float), activities_MBq.shape).copy()
        if not np.all(np.isfinite(s)) or np.any(s <= 0.0):
            raise InputError(
                f"sd_MBq must be positive and finite, got {np.asarray(sd_MBq).tolist()}",
                tag="sd_MBq",
                fix="give the absolute standard deviation of each activity in MBq",
            )
        return s, "absolute sd_MBq per point"
    rel = float(relative_sd)
    if not math.isfinite(rel) or rel <= 0.0:
        raise InputError(
            f"relative_sd must be a positive fraction, got {relative_sd!r}",
            tag="relative_sd",
            fix="e.g. relative_sd=0.1 for a 10 % standard deviation per time point",
        )
    floor = 0.01 * float(np.max(activities_MBq))
    return rel * np.maximum(activities_MBq, floor), f"relative sd {rel:g} of each measured activity"
