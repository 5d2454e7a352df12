"""Plausibility rules for values read at the boundary (DICOM headers, sidecars, options).

Each rule has a range outside which the value is physically impossible for a patient image
(an error, :class:`~theranostics.errors.PlausibilityError`) and, inside it, a range outside
which the value is possible but unusual (a problem, shown by ``inspect`` and in reports). The
reasons and sources of every range are in ``docs/ingest.md`` ("Plausibility"); this module is
the one place the numbers live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from .errors import PlausibilityError, TimingError


@dataclass(frozen=True)
class Rule:
    """A plausibility range.

    Attributes:
        quantity: what is checked, with its unit (``"pixel spacing (mm)"``).
        low, high: impossible at or below ``low`` / above ``high`` (``None``: no bound).
        usual_low, usual_high: outside these (but inside ``low, high``) a problem is noted.
        reason: why, in one line (the docs give the source).
    """

    quantity: str
    low: float | None
    high: float | None
    usual_low: float | None = None
    usual_high: float | None = None
    reason: str = ""


#: Voxel spacing of a tomographic patient image: CT 0.2-5 mm, PET 1-5 mm, SPECT 2-10 mm
#: (NEMA NU 1/NU 2 systems). 0.01 mm is below any clinical detector; 100 mm is larger than a
#: kidney, so an image with such voxels cannot be a patient tomogram.
SPACING_MM = Rule(
    "voxel spacing (mm)", 0.01, 100.0, 0.1, 15.0, "clinical CT/PET/SPECT voxels are 0.2-10 mm"
)
#: Acquisition (frame) duration: > 0 by definition; no patient lies in a scanner a whole day;
#: SPECT tomography takes 10-45 min, a PET bed 1-10 min.
DURATION_S = Rule(
    "acquisition duration (s)", 0.0, 86400.0, 1.0, 3600.0, "a scan lasts seconds to an hour"
)
#: Administered activity after the Bq/MBq rule (docs/ingest.md): 0.1 MBq to 100 GBq covers
#: every diagnostic and therapeutic administration (EANM/SNMMI guidelines: 20 MBq paediatric
#: PET to 7.4 GBq Lu-177, 3-5 GBq Y-90 microspheres, 11 GBq I-131).
ACTIVITY_MBQ = Rule(
    "administered activity (MBq)", 0.1, 1.0e5, 5.0, 2.0e4, "0.1 MBq to 100 GBq per patient"
)
#: RescaleSlope: stored value x slope must be a physical value; a zero slope erases the
#: image and a negative one inverts it; 1e10 per stored unit overflows float32 at 3e28.
RESCALE_SLOPE = Rule("RescaleSlope", 0.0, 1.0e10, reason="slope > 0 maps stored values")
#: CT: HU = stored x slope + intercept spans about -1024 to 30000 (metal); slope 1 (or a
#: small factor) and intercept about -1024 (PS3.3 C.11.1.1.2).
CT_RESCALE_SLOPE = Rule("CT RescaleSlope", 0.0, 100.0, reason="CT slopes are about 1")
CT_RESCALE_INTERCEPT = Rule(
    "CT RescaleIntercept (HU)", -1.0e4, 1.0e4, -8192.0, 8192.0, "CT intercepts are about -1024"
)
#: PET/NM intercepts are 0 in practice; beyond 1e10 the values overflow float32 products.
RESCALE_INTERCEPT = Rule("RescaleIntercept", -1.0e10, 1.0e10, reason="PET/NM intercepts are 0")
#: Time from administration to acquisition in physical half-lives: after 30 half-lives 1e-9
#: of the activity is left, nothing a camera can image; after 5, 3 % (late imaging of a
#: short-lived nuclide: possible, unusual).
ELAPSED_HALF_LIVES = Rule(
    "time from administration to scan (physical half-lives)",
    None,
    30.0,
    None,
    5.0,
    "after 30 half-lives 1e-9 of the activity remains",
)
#: DecayFactor (0054,1321): 2^(dt/T1/2) >= 1 for a frame after its reference; > 0 always.
DECAY_FACTOR = Rule("DecayFactor", 0.0, 1.0e9, 0.99, None, "2^(dt/T1/2) >= 1")
#: Relative tolerance between a header half-life and the ICRP 107 value of its nuclide
#: (vendors round: 6586.2 s vs 6586.2 s for F-18, 4057.7 vs 4062.6 s for Ga-68).
HALF_LIFE_TOLERANCE = 0.02
#: Body weight (kg): below 0.3 kg no patient (the smallest viable neonates weigh 0.4 kg);
#: above 500 kg no patient (values like 74600 are grams). Such weights are ignored with a
#: note (SUV then refuses for want of a weight).
WEIGHT_KG = Rule("patient weight (kg)", 0.3, 500.0, 2.0, 250.0, "patients weigh 0.4-300 kg")
#: Body height (m): 0.2-3 m; 50-250 read as cm (with a note).
HEIGHT_M = Rule("patient height (m)", 0.2, 3.0, 0.4, 2.3, "patients are 0.3-2.5 m tall")
#: Energy window limits (keV): gamma cameras acquire 20-700 keV (NEMA NU 1).
ENERGY_KEV = Rule("energy window (keV)", 0.0, 2000.0, reason="cameras acquire 20-700 keV")
#: SPECT calibration factor (cps/MBq): no camera counts more events than decays happen
#: (1e6 per s per MBq); below 1e-3 cps/MBq an image holds no usable counts. Planar/SPECT
#: sensitivities are 5-20 cps/MBq for Lu-177 and 60-200 for Tc-99m (MIRD 23; EANM 177Lu
#: guidance, Sjogreen Gleisner et al. 2022).
CALIBRATION_CPS_PER_MBQ = Rule(
    "SPECT calibration factor (cps/MBq)",
    1.0e-3,
    1.0e6,
    1.0,
    1000.0,
    "camera sensitivities are 1-1000 cps/MBq; more counts than decays are impossible",
)
#: Patient coordinates (mm): a patient fits in 10 m around the scanner origin.
POSITION_MM = Rule("patient position (mm)", -1.0e4, 1.0e4, reason="a patient is < 10 m")


def check(
    value: float, rule: Rule, *, path=None, tag: str | None = None, fix: str | None = None
) -> list[str]:
    """Raise :class:`PlausibilityError` when ``value`` is impossible under ``rule``; return
    a problem (list of one note) when it is unusual, else an empty list."""
    if value is None:
        return []
    value = float(value)
    impossible = (
        not math.isfinite(value)
        or (rule.low is not None and value <= rule.low)
        or (rule.high is not None and value > rule.high)
    )
    if impossible:
        bounds = (
            f"above {rule.low:g}" if rule.low is not None else "",
            f"at most {rule.high:g}" if rule.high is not None else "",
        )
        raise PlausibilityError(
            f"{rule.quantity} {value:g} is impossible (must be "
            f"{' and '.join(b for b in bounds if b)}: {rule.reason})",
            path=path,
            tag=tag,
            fix=fix or "correct the tag (see docs/ingest.md, Plausibility)",
        )
    if (rule.usual_low is not None and value < rule.usual_low) or (
        rule.usual_high is not None and value > rule.usual_high
    ):
        where = tag or rule.quantity
        return [f"{rule.quantity} {value:g} is unusual ({rule.reason}): check {where}"]
    return []


def check_half_life(
    header_s: float | None, nuclide: str | None, table_s: float | None, *, path=None
) -> list[str]:
    """Compare a header half-life with the ICRP 107 value of its nuclide.

    Raises:
        PlausibilityError: zero, negative or non-finite; the nuclide's half-life in minutes
            (or hours) written where seconds are required; a value that disagrees with the
            nuclide by more than :data:`HALF_LIFE_TOLERANCE`.
    """
    if header_s is None:
        return []
    tag = "RadionuclideHalfLife (0018,1075)"
    if not math.isfinite(header_s) or header_s <= 0:
        raise PlausibilityError(
            f"half-life {header_s:g} s is not positive",
            path=path,
            tag=tag,
            fix="correct the tag (seconds) or remove it to use the ICRP 107 value",
        )
    if nuclide is None or table_s is None:
        if header_s > 1.0e10:
            raise PlausibilityError(
                f"half-life {header_s:g} s (> 300 years) is not an imaging nuclide's",
                path=path,
                tag=tag,
                fix="correct the tag (seconds) or give the nuclide",
            )
        return []
    if abs(header_s / table_s - 1.0) <= HALF_LIFE_TOLERANCE:
        return []
    for factor, unit in ((60.0, "minutes"), (3600.0, "hours"), (86400.0, "days")):
        if abs(header_s * factor / table_s - 1.0) <= HALF_LIFE_TOLERANCE:
            raise PlausibilityError(
                f"half-life {header_s:g} is the {nuclide} half-life in {unit} "
                f"({table_s / factor:g} {unit} = {table_s:g} s), but the tag is in seconds",
                path=path,
                tag=tag,
                fix=f"write {table_s:g} (seconds), or remove the tag to use ICRP 107",
            )
    raise PlausibilityError(
        f"half-life {header_s:g} s contradicts the nuclide {nuclide} (ICRP 107: {table_s:g} s)",
        path=path,
        tag=f"{tag} vs RadionuclideCodeSequence (0054,0300)",
        fix="correct the half-life or the nuclide code",
    )


def check_elapsed(
    administration: datetime | None,
    scan: datetime | None,
    half_life_s: float | None,
    *,
    path=None,
    tag: str = "RadiopharmaceuticalStartDateTime (0018,1078) vs acquisition time",
) -> list[str]:
    """Administration-to-scan time in half-lives (:data:`ELAPSED_HALF_LIVES`), and an
    administration at the very instant of the scan start (a problem: dynamic scans start at
    injection, static ones never do)."""
    if administration is None or scan is None:
        return []
    dt = (scan - administration).total_seconds()
    notes = []
    if abs(dt) < 1.0:
        notes.append(
            "administration at the scan start instant: right for a dynamic scan from "
            f"injection, otherwise check {tag}"
        )
    if half_life_s and half_life_s > 0 and dt > 0:
        n = dt / half_life_s
        try:
            notes += check(n, ELAPSED_HALF_LIVES, path=path, tag=tag)
        except PlausibilityError:
            raise TimingError(
                f"the scan is {dt / 86400:.1f} days ({n:.0f} half-lives) after the "
                f"administration: {2.0 ** -min(n, 1e4):.1e} of the activity is left, nothing "
                "to image",
                path=path,
                tag=tag,
                fix="check the dates of both times (year, month); correct the header or "
                "give the administration time explicitly",
            ) from None
    return notes
