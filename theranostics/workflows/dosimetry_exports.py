"""Files written by :func:`.dosimetry.run_dosimetry`, and the plan it compares with.

Output folder::

    results.json        schema "theranostics-dosimetry/1" (docs/dosimetry.md)
    results.csv         one row per structure (the same figures, flat)
    tia_MBq_h.nrrd      voxel TIA (MBq·h per voxel) + sidecar tia_MBq_h.json
    dose_Gy.nrrd        absorbed dose (Gy) + sidecar
    bed_Gy.nrrd         BED (Gy) + sidecar
    RD_dose.dcm         DICOM RT Dose (PHYSICAL), frame of reference of the reference CT
    RD_bed.dcm          DICOM RT Dose (EFFECTIVE): the BED map
    structures_seg.dcm  DICOM SEG of the structures, referencing the reference CT
    dose_sr.dcm         TID 1500 SR: mass, TIA, mean/median dose, BED per segment
    report.html         the self-contained report

Determinism: every DICOM file gets its content date/time from the study (the administration
time) and UIDs derived from content, so the same input gives byte-identical files. The only
run-time fields are ``provenance.timing_s`` in ``results.json`` and the timing table of the
report.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import ProgressCallback, report

#: Per-structure columns of results.csv (DVH metrics follow).
CSV_COLUMNS = (
    "category",
    "volume_mL",
    "mass_g",
    "tia_MBq_h",
    "tia_uncertainty_MBq_h",
    "effective_half_life_h",
    "mean_dose_Gy",
    "mean_dose_uncertainty_Gy",
    "bed_Gy",
    "dose_per_activity_Gy_per_GBq",
    "partial_volume_scale",
    "kinetic_model",
)


def read_plan(path: str | Path, loaded) -> dict:
    """An RLT plan JSON as ``{"structures": {name: planned figures}, "patient_id"}``.

    A plan that names a patient (``patient_id`` or ``patient.patient_id``) different from the
    study's is refused: comparing another patient's plan would be silently wrong.

    Raises:
        InputError: missing or unreadable file, wrong schema, another patient.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("plan file not found", path=p, fix="check the path of the plan JSON")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"plan is not valid JSON ({exc})", path=p) from None
    if not isinstance(doc, dict) or doc.get("schema") != "theranostics-plan-rlt/1":
        raise InputError(
            "not an RLT plan (schema is not 'theranostics-plan-rlt/1')",
            path=p,
            tag="schema",
            fix="give a plan written by theranostics plan-rlt",
        )
    plan_patient = doc.get("patient_id") or (doc.get("patient") or {}).get("patient_id")
    study_patient = _study_patient_id(loaded)
    if plan_patient and study_patient and str(plan_patient) != str(study_patient):
        raise InputError(
            f"the plan is for patient {plan_patient!r}, the study is of {study_patient!r}",
            path=p,
            tag="patient_id",
            fix="give the plan made for this patient",
        )
    structures = {}
    for s in doc.get("structures", []):
        if not isinstance(s, dict) or "name" not in s or "absorbed_dose_per_cycle_Gy" not in s:
            raise InputError(
                "a plan structure lacks name or absorbed_dose_per_cycle_Gy",
                path=p,
                tag="structures",
            )
        structures[s["name"]] = s
    return {"structures": structures, "patient_id": plan_patient, "path": str(p)}


def _study_patient_id(loaded) -> str | None:
    return study_patient_tags(loaded).get("patient_id")


def study_patient_tags(loaded) -> dict:
    """PatientID and PatientName of the study, from the first DICOM file of the reference
    session (the loaded study keeps body measures only); empty when unreadable."""
    patient = getattr(loaded, "patient", None)
    if isinstance(patient, dict) and patient.get("patient_id"):
        return {"patient_id": patient["patient_id"]}
    try:
        first = loaded.time_points[0].ct.meta.source_files[0]
        import pydicom

        ds = pydicom.dcmread(first, stop_before_pixels=True)
    except (IndexError, AttributeError, OSError, ValueError):
        return {}
    return {
        "patient_id": str(ds.get("PatientID", "")),
        "patient_name": str(ds.get("PatientName", "")),
    }


def sha256_of(path: Path) -> dict[str, str]:
    """SHA-256 of a file, or of every file under a folder (relative path -> hex digest)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out = {}
    for f in files:
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
        key = str(f.relative_to(path)) if path.is_dir() else f.name
        out[key] = h.hexdigest()
    return out


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _csv_text(structures: dict) -> str:
    dvh_keys = sorted({k for s in structures.values() for k in s.get("dvh", {})})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["structure", *CSV_COLUMNS, *(f"dvh_{k}" for k in dvh_keys)])
    for name, s in structures.items():
        row = [name] + [s.get(c) for c in CSV_COLUMNS] + [s["dvh"].get(k) for k in dvh_keys]
        writer.writerow(
            ["" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for v in row]
        )
    return buf.getvalue()


def _content_datetime(loaded) -> datetime:
    when = getattr(loaded.administration, "datetime", None)
    return when or datetime(2000, 1, 1)


def write_all(
    result,
    out: Path,
    *,
    loaded,
    inputs: list[Path],
    timing: dict[str, float],
    started: float,
    write_report: bool = True,
    progress: ProgressCallback | None = None,
) -> None:
    """Write every output of a :class:`.dosimetry.DosimetryResult` into ``out``; fills
    ``result.files`` and the provenance block of ``result.results``."""
    import time

    from ..image import QuantitativeImage
    from ..io.rtdose import write_rtdose
    from ..io.sidecar import write_image_with_sidecar
    from ..metadata import AcquisitionInfo, QuantityInfo

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    t0 = time.perf_counter()
    meta = loaded.time_points[0].spect.meta
    for index, (key, image, units, what) in enumerate((
        ("tia", result.tia_MBq_h, "MBq*h", "time-integrated activity per voxel"),
        ("dose", result.dose_Gy, "Gy", "absorbed dose"),
        ("bed", result.bed_Gy, "Gy", "biologically effective dose"),
    )):  # fmt: skip
        report(progress, 0.05 * index, f"writing {what}")
        qmeta = meta.replace(
            series_description=what,
            acquisition=AcquisitionInfo(),
            quantity=QuantityInfo(units=units, units_source="theranostics dosimetry"),
        )
        name = {"tia": "tia_MBq_h", "dose": "dose_Gy", "bed": "bed_Gy"}[key]
        write_image_with_sidecar(QuantitativeImage(image, qmeta), out / f"{name}.nrrd")
        files[key] = out / f"{name}.nrrd"
    if result.dose_difference_Gy is not None:
        report(progress, 0.2, "writing the dose difference map")
        qmeta = meta.replace(
            series_description="delivered minus planned dose",
            acquisition=AcquisitionInfo(),
            quantity=QuantityInfo(units="Gy", units_source="theranostics dosimetry"),
        )
        path = out / "dose_difference_Gy.nrrd"
        write_image_with_sidecar(QuantitativeImage(result.dose_difference_Gy, qmeta), path)
        files["dose_difference"] = path
    timing["maps_s"] = time.perf_counter() - t0
    moment = _content_datetime(loaded)
    notes = result.results["notes"]
    t0 = time.perf_counter()
    if result.reference_ct_files:
        report(progress, 0.3, "writing DICOM RT Dose (absorbed dose)")
        nuclide = result.results["nuclide"]
        files["rtdose"] = write_rtdose(
            out / "RD_dose.dcm",
            result.dose_Gy,
            result.reference_ct_files,
            description="Absorbed dose",
            dose_comment=f"{nuclide} post-therapy, {result.results['method']}",
            content_datetime=moment,
        )
        report(progress, 0.37, "writing DICOM RT Dose (BED)")
        files["rtdose_bed"] = write_rtdose(
            out / "RD_bed.dcm",
            result.bed_Gy,
            result.reference_ct_files,
            description="BED",
            dose_type="EFFECTIVE",
            dose_comment=f"{nuclide} BED (Dale 1985, voxel effective half-life)",
            series_number=401,
            content_datetime=moment,
        )
        _write_seg_sr(result, out, files, moment, notes, progress)
    else:
        notes.append("no reference CT files: DICOM RT Dose, SEG and SR not written")
    timing["dicom_s"] = time.perf_counter() - t0
    converter = None
    if write_report:
        from ..report.pdf import available_converter

        converter = available_converter()
        if converter is None:
            notes.append(
                "report.pdf not written: no HTML-to-PDF converter (pip install weasyprint, "
                "or wkhtmltopdf/Chromium on the PATH); report.html is the full report"
            )
    report(progress, 0.6, "writing tables")
    _atomic_text(out / "results.csv", _csv_text(result.results["structures"]))
    files["csv"] = out / "results.csv"
    hashes = {}
    for p in inputs:
        report(progress, 0.62, f"hashing the input {Path(p).name}")
        hashes[str(p)] = sha256_of(p)
    prov = result.results["provenance"]
    prov["input_sha256"] = hashes
    prov["outputs"] = sorted(p.name for p in files.values())
    timing["total_s"] = time.perf_counter() - started
    prov["timing_s"] = {k: round(v, 3) for k, v in timing.items()}
    prov["run_time_fields"] = ["provenance.timing_s"]
    _atomic_text(out / "results.json", json.dumps(result.results, indent=2, default=_json) + "\n")
    files["json"] = out / "results.json"
    if write_report:
        report(progress, 0.7, "writing the report")
        from ..progress import scaled
        from .dosimetry_report import write_report as _write_report

        # the report writes the PDF too (figures as PNG for the converter: report/pdf.py)
        files["report"] = _write_report(
            result, out / "report.html", pdf_converter=converter, progress=scaled(progress, 0.7, 1)
        )
        if converter is not None:
            files["report_pdf"] = files["report"].with_suffix(".pdf")
    result.files = files


def _write_seg_sr(result, out, files, moment, notes, progress=None) -> None:
    from ..io.seg_export import write_seg
    from ..io.sr_export import write_measurement_sr

    structures = result.results["structures"]
    masks = {n: m for n, m in result.masks.items() if n in structures}
    info = {n: {"category": structures[n]["category"]} for n in masks}
    report(progress, 0.44, "writing DICOM SEG of the structures")
    seg = write_seg(
        out / "structures_seg.dcm",
        masks,
        result.reference_ct_files,
        series_description="Dosimetry structures",
        segment_info=info,
        grid="masks",  # the SPECT grid the doses were computed on, no upsampling to the CT
        content_datetime=moment,
    )
    if seg is None:
        notes.append("DICOM SEG not written (no non-empty segment)")
        return
    files["seg"] = seg
    keys = ("mass_g", "volume_mL", "tia_MBq_h", "mean_dose_Gy", "bed_Gy")
    measurements = {
        n: {k: float(structures[n][k]) for k in keys if np.isfinite(structures[n][k])}
        for n in masks
    }
    for n in measurements:
        measurements[n]["median_dose_Gy"] = float(structures[n]["dvh"]["median_Gy"])
        measurements[n]["max_dose_Gy"] = float(structures[n]["dvh"]["max_Gy"])
    report(progress, 0.52, "writing DICOM SR of the structure doses")
    sr = write_measurement_sr(
        out / "dose_sr.dcm",
        seg,
        result.reference_ct_files,
        measurements,
        series_description="Dosimetry measurements",
        content_datetime=moment,
    )
    if sr is not None:
        files["sr"] = sr


def _json(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
