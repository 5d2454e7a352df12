"""Inputs of the 177Lu radioligand-therapy planner: one :class:`StructureInput` per organ at
risk or lesion, their validation, the structure-name → tissue mapping, and the import of a
dosimetry result of an earlier cycle (schema ``theranostics-dosimetry/1``).

Units: absorbed dose per administered activity in Gy/GBq, half-lives in h, doses in Gy.
Tables: ``theranostics/data/oar_limits.json`` (names, limits, plausibility ranges) and
``theranostics/data/tissue_radiobiology.json`` (α/β, repair half-times).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ..errors import InputError, UnitsError

CATEGORIES = ("oar", "lesion")
OAR_LIMITS_FILE = "theranostics/data/oar_limits.json"


@dataclass(frozen=True)
class StructureInput:
    """What is known about one structure before planning.

    Attributes:
        name: structure name as the user or the segmentation calls it (``"kidney_left"``).
        category: ``"oar"`` (organ at risk) or ``"lesion"``.
        dose_per_activity_Gy_per_GBq: mean absorbed dose per administered activity, Gy/GBq.
        effective_half_life_h: effective half-life of the dose rate (washout), h.
        dose_per_activity_sd_Gy_per_GBq: standard uncertainty of the above, Gy/GBq.
        effective_half_life_sd_h: standard uncertainty of the effective half-life, h.
        uptake_half_life_h: uptake half-time, h, for the uptake-plus-washout BED closed form
            (None: instantaneous uptake, mono-exponential dose rate).
        previous_bed_Gy: BED already delivered by earlier cycles, Gy.
        previous_dose_Gy: absorbed dose already delivered, Gy; None means "not known" and the
            planner uses ``previous_bed_Gy`` instead (BED ≥ D, so this never underestimates).
        previous_bed_sd_Gy: standard uncertainty of ``previous_bed_Gy``, Gy.
        source: where the numbers come from (``"typed"``, ``"dosimetry:results.json"``,
            ``"pet-scaling:..."``).
    """

    name: str
    category: str
    dose_per_activity_Gy_per_GBq: float
    effective_half_life_h: float
    dose_per_activity_sd_Gy_per_GBq: float = 0.0
    effective_half_life_sd_h: float = 0.0
    uptake_half_life_h: float | None = None
    previous_bed_Gy: float = 0.0
    previous_dose_Gy: float | None = None
    previous_bed_sd_Gy: float = 0.0
    source: str = "typed"

    @property
    def delivered_dose_Gy(self) -> float:
        """Previous absorbed dose, falling back on the previous BED (conservative)."""
        return self.previous_bed_Gy if self.previous_dose_Gy is None else self.previous_dose_Gy


@cache
def limits_table() -> dict:
    """The parsed ``oar_limits.json``."""
    text = (resources.files("theranostics") / "data" / "oar_limits.json").read_text()
    return json.loads(text)


def normalise_name(name: str) -> str:
    """Lower case, non-alphanumerics → ``_`` (``"Kidney Left"`` → ``"kidney_left"``)."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def tissue_for_structure(name: str, category: str) -> str | None:
    """The tissue key (``tissue_radiobiology.json``) of a structure, or None when unknown.

    Lesions are ``"tumour"``. Organs: the name without side words (left/right/l/r ...) is
    looked up in ``structure_aliases`` (``"Parotid_R"`` → ``"salivary_glands"``).
    """
    if category == "lesion":
        return "tumour"
    table = limits_table()
    aliases = table["structure_aliases"]
    key = normalise_name(name)
    if key in aliases:
        return aliases[key]
    sides = set(table["side_tokens"])
    stripped = "_".join(t for t in key.split("_") if t not in sides)
    return aliases.get(stripped)


def _number(value, what: str, *, allow_zero: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{what} = {value!r} is not a number", tag=what, fix="give a number"
        ) from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise InputError(f"{what} = {value!r} must be {need} and finite", tag=what, fix="check it")
    return v


def validate_structure(
    s: StructureInput, *, physical_half_life_h: float, check_plausibility: bool = True
) -> None:
    """Refuse a structure input that is missing, negative, NaN or implausible.

    Plausibility (``oar_limits.json``): the dose per GBq must lie in the tissue's range (a
    value 1000 times too small is usually Gy/MBq); the effective half-life must lie between
    1 h and the physical half-life (no biological process makes a nuclide decay slower).

    Raises:
        InputError: missing or invalid value; UnitsError: a value outside its plausible range.
    """
    where = f"structure {s.name!r}"
    if not isinstance(s.name, str) or not s.name.strip():
        raise InputError("a structure has no name", tag="name", fix="name every structure")
    if s.category not in CATEGORIES:
        raise InputError(
            f"{where}: category {s.category!r} is not one of {CATEGORIES}",
            tag=f"{s.name}.category",
            fix="use 'oar' for organs at risk, 'lesion' for tumours",
        )
    for field in (
        "dose_per_activity_Gy_per_GBq",
        "effective_half_life_h",
        "dose_per_activity_sd_Gy_per_GBq",
        "effective_half_life_sd_h",
        "previous_bed_Gy",
        "previous_bed_sd_Gy",
    ):
        value = getattr(s, field)
        if value is None:
            raise InputError(f"{where}: {field} is missing", tag=f"{s.name}.{field}", fix="give it")
        positive = field in ("dose_per_activity_Gy_per_GBq", "effective_half_life_h")
        _number(value, f"{s.name}.{field}", allow_zero=not positive)
    if s.previous_dose_Gy is not None:
        _number(s.previous_dose_Gy, f"{s.name}.previous_dose_Gy")
    if s.uptake_half_life_h is not None:
        _number(s.uptake_half_life_h, f"{s.name}.uptake_half_life_h", allow_zero=False)
        if s.uptake_half_life_h >= s.effective_half_life_h:
            raise InputError(
                f"{where}: uptake half-life {s.uptake_half_life_h} h is not shorter than the "
                f"effective half-life {s.effective_half_life_h} h",
                tag=f"{s.name}.uptake_half_life_h",
                fix="swap them, or leave the uptake half-life out",
            )
    if s.effective_half_life_h > physical_half_life_h * (1 + 1e-6):
        raise UnitsError(
            f"{where}: effective half-life {s.effective_half_life_h} h is longer than the "
            f"physical half-life {physical_half_life_h:.1f} h, which is impossible",
            tag=f"{s.name}.effective_half_life_h",
            fix="give the effective (not biological) half-life, in hours (not days)",
        )
    if not check_plausibility:
        return
    table = limits_table()
    if s.effective_half_life_h < table["plausible_effective_half_life_h"]["min"]:
        raise UnitsError(
            f"{where}: effective half-life {s.effective_half_life_h} h is below 1 h",
            tag=f"{s.name}.effective_half_life_h",
            fix="give it in hours (not days); or disable the plausibility check",
        )
    tissue = tissue_for_structure(s.name, s.category)
    ranges = table["plausible_dose_per_activity_Gy_per_GBq"]
    lo, hi = ranges.get(tissue or "other", ranges["other"])
    d = s.dose_per_activity_Gy_per_GBq
    if not lo <= d <= hi:
        hint = "Gy/MBq? multiply by 1000" if d < lo else "Gy per cycle or mGy/GBq?"
        raise UnitsError(
            f"{where}: {d} Gy/GBq is outside the plausible range [{lo}, {hi}] Gy/GBq for "
            f"{tissue or 'an unlisted tissue'} ({hint})",
            path=OAR_LIMITS_FILE,
            tag=f"{s.name}.dose_per_activity_Gy_per_GBq",
            fix="give the mean absorbed dose per administered GBq; if the value is right, "
            "disable the plausibility check (--allow-implausible)",
        )


def _bed_from_table(name: str, category: str, dose_Gy: float, t_eff_h: float, path: Path) -> float:
    """BED of a delivered dose with the table's α/β and repair half-time (mono-exponential)."""
    from ..radiobiology import bed_monoexponential_Gy, tissue_parameters

    tissue = tissue_for_structure(name, category)
    if tissue is None:
        raise InputError(
            f"{name}: bed_Gy is missing and the tissue is unknown",
            path=path,
            tag=f"structures.{name}.bed_Gy",
            fix="give bed_Gy in the results file",
        )
    t = tissue_parameters(tissue)
    return float(bed_monoexponential_Gy(dose_Gy, t_eff_h, t.alpha_beta_Gy, t.repair_half_time_h))


@dataclass(frozen=True)
class DosimetryInputs:
    """Structures read from a dosimetry result of an earlier cycle.

    Attributes:
        structures: one input per organ (``oar``) and lesion; their delivered ``bed_Gy`` and
            ``mean_dose_Gy`` are the previous BED and dose.
        nuclide: the result's nuclide.
        administered_activity_GBq: activity of that cycle, GBq.
        notes: what was skipped and why.
    """

    structures: tuple[StructureInput, ...]
    nuclide: str
    administered_activity_GBq: float
    notes: tuple[str, ...]


def structures_from_dosimetry(path: str | Path, *, keep: tuple[str, ...] = ()) -> DosimetryInputs:
    """Read per-GBq doses, half-lives and delivered doses from a ``results.json``.

    Gy/GBq = ``mean_dose_Gy`` / administered GBq (checked against
    ``dose_per_activity_Gy_per_GBq`` when both are there: they must agree within 1 %). Organs
    with no known tissue (no α/β, e.g. spleen) are skipped with a note unless named in
    ``keep`` (the caller then supplies their α/β and repair half-time).

    Raises:
        InputError: missing file, wrong schema, missing or contradictory values.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("dosimetry results file not found", path=p, fix="check the path")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=p, fix="give a results.json") from None
    if not isinstance(doc, dict) or doc.get("schema") != "theranostics-dosimetry/1":
        raise InputError(
            "not a dosimetry result (schema is not 'theranostics-dosimetry/1')",
            path=p,
            tag="schema",
            fix="give the results.json written by the dosimetry pipeline",
        )
    activity_MBq = doc.get("administered_activity_MBq")
    try:
        activity_GBq = _number(activity_MBq, "administered_activity_MBq", allow_zero=False) / 1e3
    except InputError as exc:
        raise InputError(exc.message, path=p, tag=exc.tag, fix=exc.fix) from None
    structures, notes = [], []
    keep_keys = {normalise_name(k) for k in keep}
    for name, s in (doc.get("structures") or {}).items():
        category = {"organ": "oar", "lesion": "lesion"}.get(s.get("category"))
        if category is None:
            notes.append(f"{name}: category {s.get('category')!r} is not planned (skipped)")
            continue
        if (
            category == "oar"
            and tissue_for_structure(name, category) is None
            and normalise_name(name) not in keep_keys
        ):
            notes.append(
                f"{name}: no radiobiology parameters for this organ (skipped; give its "
                "alpha/beta and repair half-time to include it)"
            )
            continue
        tag = f"structures.{name}"
        for key in ("mean_dose_Gy", "effective_half_life_h"):
            if s.get(key) is None:
                raise InputError(f"{name}: {key} is missing", path=p, tag=f"{tag}.{key}")
        dose = _number(s["mean_dose_Gy"], f"{tag}.mean_dose_Gy")
        per_gbq = dose / activity_GBq
        stated = s.get("dose_per_activity_Gy_per_GBq")
        if stated is not None and abs(float(stated) - per_gbq) > 0.01 * per_gbq:
            raise InputError(
                f"{name}: dose_per_activity_Gy_per_GBq {stated} contradicts mean_dose_Gy / "
                f"administered GBq = {per_gbq:.4g}",
                path=p,
                tag=f"{tag}.dose_per_activity_Gy_per_GBq",
                fix="check administered_activity_MBq (MBq, not GBq) and the doses",
            )
        u_dose = _number(
            s.get("mean_dose_uncertainty_Gy") or 0.0, f"{tag}.mean_dose_uncertainty_Gy"
        )
        t_eff = _number(
            s["effective_half_life_h"], f"{tag}.effective_half_life_h", allow_zero=False
        )
        if s.get("bed_Gy") is not None:
            bed = _number(s["bed_Gy"], f"{tag}.bed_Gy")
        else:
            bed = _bed_from_table(name, category, dose, t_eff, p)
            notes.append(f"{name}: bed_Gy absent; computed from mean_dose_Gy with table α/β")
        # First order: BED = D + κD², dBED/dD = 1 + 2κD = 2·BED/D − 1 (≥ 1).
        u_bed = u_dose * (2.0 * bed / dose - 1.0) if dose > 0 else u_dose
        structures.append(
            StructureInput(
                name=name,
                category=category,
                dose_per_activity_Gy_per_GBq=per_gbq,
                effective_half_life_h=t_eff,
                dose_per_activity_sd_Gy_per_GBq=u_dose / activity_GBq,
                previous_bed_Gy=bed,
                previous_dose_Gy=dose,
                previous_bed_sd_Gy=u_bed,
                source=f"dosimetry:{p.name}",
            )
        )
    if not structures:
        raise InputError("no organ or lesion to plan with", path=p, tag="structures")
    return DosimetryInputs(
        tuple(structures), str(doc.get("nuclide", "")), activity_GBq, tuple(notes)
    )
