"""Partial-volume recovery coefficients as a function of volume, from a user table.

File formats (one row per measured object, volumes strictly increasing):

* CSV with a header ``volume_mL,recovery_coefficient[,relative_sd]``; lines starting with
  ``#`` are comments (say where the table comes from: phantom, reconstruction, scanner);
* JSON ``{"volume_mL": [...], "recovery_coefficient": [...], "relative_sd": [...]}``
  (``relative_sd`` optional), optionally with ``"source"``.

The recovery coefficient RC = measured / true activity of an object of that volume, measured
on a phantom with the same acquisition and reconstruction (MIRD Pamphlet 23, Dewaraja YK et
al., J Nucl Med 2012;53:1310-1325; Ljungberg M et al., MIRD Pamphlet 26, J Nucl Med
2016;57:151-162; Tran-Gia J, Lassmann M. Characterization of noise and resolution for
quantitative 177Lu SPECT/CT with xSPECT Quant. J Nucl Med 2019;60:50-59). Between table
points RC is interpolated with a monotone cubic (PCHIP, Fritsch FN, Carlson RE, SIAM J Numer
Anal 1980;17:238-246) in log-volume, which neither overshoots nor invents a bump. Volumes
outside the table are refused unless ``clamp=True`` (then the end value is used and the
record says so). The corrected activity is ``A / RC``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from theranostics.errors import InputError

EXAMPLE_TABLE = Path(__file__).resolve().parent.parent / "data" / "recovery_example.csv"


@dataclass(frozen=True, eq=False)
class RecoveryTable:
    """Recovery coefficients (dimensionless) at volumes (mL), with optional relative SDs."""

    volumes_mL: np.ndarray
    coefficients: np.ndarray
    relative_sds: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        v = np.asarray(self.volumes_mL, dtype=float)
        rc = np.asarray(self.coefficients, dtype=float)
        where = self.source or "recovery table"
        if v.ndim != 1 or v.size < 2 or v.size != rc.size:
            raise InputError(
                "a recovery table needs at least two rows of volume_mL and recovery_coefficient",
                path=where,
            )
        if not (np.all(np.isfinite(v)) and np.all(v > 0) and np.all(np.diff(v) > 0)):
            raise InputError(
                f"volume_mL must be positive and strictly increasing, got {v.tolist()}",
                path=where,
                tag="volume_mL",
                fix="sort the rows by volume and remove duplicates",
            )
        if not (np.all(np.isfinite(rc)) and np.all(rc > 0) and np.all(rc <= 2)):
            raise InputError(
                f"recovery_coefficient must be in (0, 2], got {rc.tolist()}",
                path=where,
                tag="recovery_coefficient",
            )
        if self.relative_sds is not None:
            s = np.asarray(self.relative_sds, dtype=float)
            if s.shape != v.shape or not np.all(np.isfinite(s)) or np.any(s < 0):
                raise InputError(
                    "relative_sd must be one non-negative value per row",
                    path=where,
                    tag="relative_sd",
                )

    @property
    def _interp(self) -> PchipInterpolator:
        return PchipInterpolator(np.log(self.volumes_mL), self.coefficients, extrapolate=False)

    def _log_volume(self, volume_mL: float, clamp: bool) -> tuple[float, bool]:
        v = float(volume_mL)
        lo, hi = float(self.volumes_mL[0]), float(self.volumes_mL[-1])
        if not math.isfinite(v) or v <= 0:
            raise InputError(f"volume_mL must be positive, got {volume_mL!r}", tag="volume_mL")
        if lo <= v <= hi:
            return math.log(v), False
        if not clamp:
            raise InputError(
                f"volume {v:g} mL is outside the recovery table ({lo:g}-{hi:g} mL)",
                path=self.source or None,
                tag="volume_mL",
                fix="extend the table with a phantom measurement, or pass clamp=True to use "
                "the nearest tabulated coefficient (recorded as clamped)",
            )
        return math.log(min(max(v, lo), hi)), True

    def coefficient(self, volume_mL: float, *, clamp: bool = False) -> float:
        """Recovery coefficient at ``volume_mL`` (PCHIP in log-volume)."""
        x, _ = self._log_volume(volume_mL, clamp)
        return float(self._interp(x))

    def relative_sd(self, volume_mL: float, *, clamp: bool = False) -> float:
        """Relative SD of the coefficient at ``volume_mL`` (linear in log-volume; 0 if the
        table has none)."""
        x, _ = self._log_volume(volume_mL, clamp)
        if self.relative_sds is None:
            return 0.0
        return float(np.interp(x, np.log(self.volumes_mL), self.relative_sds))

    def log_slope(self, volume_mL: float, *, clamp: bool = False) -> float:
        """``d ln RC / d ln V`` at ``volume_mL`` (0 where clamped): how much a relative volume
        error changes the recovery coefficient, hence the corrected activity (with the
        opposite sign)."""
        x, clamped = self._log_volume(volume_mL, clamp)
        if clamped:
            return 0.0
        interp = self._interp
        return float(interp.derivative()(x) / interp(x))

    @classmethod
    def from_file(cls, path: str | Path) -> RecoveryTable:
        """Read a CSV or JSON table (see the module docstring for the formats)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read the recovery table: {exc}", path=p) from exc
        if p.suffix.lower() == ".json":
            try:
                data = json.loads(text)
                cols = (data["volume_mL"], data["recovery_coefficient"], data.get("relative_sd"))
                source = str(data.get("source", p))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(
                    f"malformed recovery table JSON: {exc}",
                    path=p,
                    fix='expected {"volume_mL": [...], "recovery_coefficient": [...]}',
                ) from exc
        else:
            cols, source = _read_csv(p, text), str(p)
        vol, rc, sd = cols
        return cls(
            volumes_mL=np.asarray(vol, dtype=float),
            coefficients=np.asarray(rc, dtype=float),
            relative_sds=None if sd is None else np.asarray(sd, dtype=float),
            source=source,
        )


def _read_csv(path: Path, text: str):
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(rows)
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "volume_mL" not in fields or "recovery_coefficient" not in fields:
        raise InputError(
            f"CSV header must name volume_mL and recovery_coefficient, got {fields}",
            path=path,
            fix="first non-comment line: volume_mL,recovery_coefficient[,relative_sd]",
        )
    vol, rc, sd = [], [], []
    try:
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            vol.append(float(row["volume_mL"]))
            rc.append(float(row["recovery_coefficient"]))
            if "relative_sd" in fields:
                sd.append(float(row["relative_sd"]))
    except ValueError as exc:
        raise InputError(f"non-numeric value in the recovery table: {exc}", path=path) from exc
    return vol, rc, (sd if "relative_sd" in fields else None)


def apply_recovery(
    activity_MBq, volume_mL: float, table: RecoveryTable, *, clamp: bool = False
) -> tuple[np.ndarray | float, dict]:
    """Divide activity (MBq; a number or one value per time point) by the recovery
    coefficient of ``volume_mL``. Returns the corrected activity (a new object; the input is
    not modified) and a record of what was applied, for the results file."""
    rc = table.coefficient(volume_mL, clamp=clamp)
    _, clamped = table._log_volume(volume_mL, clamp)
    a = np.asarray(activity_MBq, dtype=float)
    corrected = a / rc
    record = {
        "applied": True,
        "volume_mL": float(volume_mL),
        "recovery_coefficient": rc,
        "relative_sd": table.relative_sd(volume_mL, clamp=clamp),
        "table": table.source,
        "clamped": clamped,
    }
    if clamped:
        record["note"] = (
            f"volume {volume_mL:g} mL outside the table "
            f"({table.volumes_mL[0]:g}-{table.volumes_mL[-1]:g} mL): nearest coefficient used"
        )
    return (float(corrected) if corrected.ndim == 0 else corrected), record
