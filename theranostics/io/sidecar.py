"""NIfTI/NRRD images with a JSON metadata sidecar.

An image ``scan.nii.gz`` (or ``scan.nii``, ``scan.nrrd``, ``scan.nhdr``) carries its metadata in
``scan.json`` next to it. The sidecar is a flat JSON object; every key is optional except
``schema`` and ``units``, unknown keys are refused (they are usually typos), values are
checked once here. See ``docs/ingest.md`` for the schema. Geometry comes from the image
header; SimpleITK converts NIfTI's RAS+ storage to LPS on reading.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import datetime
from pathlib import Path

import SimpleITK as sitk

from ..errors import InputError, SidecarError
from ..image import QuantitativeImage, check_spacing
from ..metadata import (
    DECAY_CORRECTION_VALUES,
    KNOWN_UNITS,
    AcquisitionInfo,
    Administration,
    ImageMetadata,
    PatientInfo,
    QuantityInfo,
)
from ..nuclides import normalise_nuclide_name

SCHEMA = "theranostics-sidecar/1"
SIDECAR_IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")

#: key -> (type, description). Datetimes are ISO 8601 strings without time zone.
FIELDS: dict[str, tuple[str, str]] = {
    "schema": ("str", f"must be {SCHEMA!r}"),
    "modality": ("str", "CT, NM, PT or OT"),
    "units": ("str", "one of " + ", ".join(KNOWN_UNITS)),
    "series_description": ("str", "free text"),
    "series_instance_uid": ("str", "DICOM UID of the source series, if any"),
    "frame_of_reference_uid": ("str", "images sharing it share patient coordinates"),
    "nuclide": ("str", "e.g. Lu-177, Tc-99m"),
    "radiopharmaceutical": ("str", "e.g. PSMA-617"),
    "administered_activity_MBq": ("number", "administered activity in MBq, > 0"),
    "administration_datetime": ("datetime", "administration start"),
    "acquisition_datetime": ("datetime", "acquisition start"),
    "acquisition_duration_s": ("number", "acquisition duration in s, > 0"),
    "decay_correction": ("str", "START, ADMIN or NONE"),
    "decay_reference_datetime": ("datetime", "time the values are decay-corrected to"),
    "patient_weight_kg": ("number", "body weight in kg, > 0"),
    "patient_height_m": ("number", "body height in m, > 0"),
    "patient_sex": ("str", "F or M"),
}


def sidecar_path(image_path: str | Path) -> Path:
    """The JSON sidecar path for an image path (``a.nii.gz`` -> ``a.json``)."""
    p = Path(image_path)
    name = p.name
    for suffix in sorted(SIDECAR_IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return p.with_name(name[: -len(suffix)] + ".json")
    return p.with_suffix(".json")


def _fail(message: str, path, key: str | None = None) -> SidecarError:
    return SidecarError(
        message, path=path, tag=key, fix="correct the sidecar; see docs/ingest.md for the schema"
    )


def _number(value, key, path, positive=True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(f"{key} must be a finite number, not {value!r}", path, key)
    if positive and value <= 0:
        raise _fail(f"{key} must be > 0, not {value!r}", path, key)
    return float(value)


def _datetime(value, key, path) -> datetime:
    try:
        result = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise _fail(f"{key} {value!r} is not an ISO 8601 datetime", path, key) from exc
    return result.replace(tzinfo=None)


def metadata_from_sidecar(data: dict, *, path=None, source_files=()) -> ImageMetadata:
    """Validate a sidecar dict and turn it into :class:`ImageMetadata`.

    Raises:
        SidecarError: wrong schema, unknown key, wrong type or impossible value.
    """
    if not isinstance(data, dict):
        raise _fail("sidecar must hold a JSON object", path)
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise _fail(f"unknown key(s) {unknown}; allowed: {sorted(FIELDS)}", path, unknown[0])
    if data.get("schema") != SCHEMA:
        raise _fail(f"schema must be {SCHEMA!r}, found {data.get('schema')!r}", path, "schema")
    for key, (kind, _) in FIELDS.items():
        if (
            key in data
            and data[key] is not None
            and kind == "str"
            and not isinstance(data[key], str)
        ):
            raise _fail(f"{key} must be a string, not {data[key]!r}", path, key)
    units = data.get("units")
    if units not in KNOWN_UNITS:
        raise _fail(f"units {units!r} unknown; use one of {list(KNOWN_UNITS)}", path, "units")
    g = data.get

    def num(key):
        return None if g(key) is None else _number(g(key), key, path)

    def when(key):
        return None if g(key) is None else _datetime(g(key), key, path)

    nuclide = g("nuclide")
    if nuclide is not None:
        key = normalise_nuclide_name(nuclide)
        if key is None:
            raise _fail(
                f"nuclide {nuclide!r} not recognised (write e.g. 'Lu-177')", path, "nuclide"
            )
        nuclide = key
    correction = (g("decay_correction") or "NONE").upper()
    if correction not in DECAY_CORRECTION_VALUES:
        raise _fail(
            f"decay_correction must be one of {DECAY_CORRECTION_VALUES}", path, "decay_correction"
        )
    reference = when("decay_reference_datetime")
    administered = when("administration_datetime")
    if correction == "ADMIN" and reference is None:
        reference = administered
    if correction != "NONE" and reference is None:
        raise _fail(
            f"decay_correction {correction} needs decay_reference_datetime",
            path,
            "decay_reference_datetime",
        )
    sex = g("patient_sex")
    if sex is not None and sex not in ("F", "M"):
        raise _fail("patient_sex must be 'F' or 'M' (omit it when unknown)", path, "patient_sex")
    acquired = when("acquisition_datetime")
    if acquired is not None and administered is not None and acquired < administered:
        from ..errors import TimingError

        raise TimingError(
            "acquisition_datetime is before administration_datetime",
            path=path,
            tag="acquisition_datetime",
            fix="check both datetimes in the sidecar",
        )
    from .. import plausibility  # the same rules as the DICOM readers (docs/ingest.md)

    problems: list[str] = []
    for key, rule in (
        ("administered_activity_MBq", plausibility.ACTIVITY_MBQ),
        ("acquisition_duration_s", plausibility.DURATION_S),
        ("patient_weight_kg", plausibility.WEIGHT_KG),
        ("patient_height_m", plausibility.HEIGHT_M),
    ):
        problems += plausibility.check(
            num(key), rule, path=path, tag=key, fix=f"correct {key} in the sidecar"
        )
    return ImageMetadata(
        problems=tuple(problems),
        modality=g("modality") or "OT",
        series_instance_uid=g("series_instance_uid"),
        series_description=g("series_description") or "",
        frame_of_reference_uid=g("frame_of_reference_uid"),
        patient=PatientInfo(
            weight_kg=num("patient_weight_kg"), height_m=num("patient_height_m"), sex=sex
        ),
        administration=Administration(
            nuclide=nuclide,
            radiopharmaceutical=g("radiopharmaceutical"),
            activity_MBq=num("administered_activity_MBq"),
            datetime=administered,
            activity_rule="sidecar administered_activity_MBq"
            if g("administered_activity_MBq") is not None
            else "",
        ),
        acquisition=AcquisitionInfo(
            start=acquired,
            duration_s=num("acquisition_duration_s"),
            start_source="sidecar",
            duration_source="sidecar",
        ),
        quantity=QuantityInfo(
            units=units,
            decay_correction=correction,
            decay_reference=reference,
            units_source="sidecar",
        ),
        source_files=tuple(str(f) for f in source_files),
    )


def metadata_to_sidecar(meta: ImageMetadata) -> dict:
    """The sidecar dict for :class:`ImageMetadata` (``None`` values left out)."""

    def iso(value):
        return value.isoformat() if value is not None else None

    data = {
        "schema": SCHEMA,
        "modality": meta.modality,
        "units": meta.quantity.units,
        "series_description": meta.series_description or None,
        "series_instance_uid": meta.series_instance_uid,
        "frame_of_reference_uid": meta.frame_of_reference_uid,
        "nuclide": meta.administration.nuclide,
        "radiopharmaceutical": meta.administration.radiopharmaceutical,
        "administered_activity_MBq": meta.administration.activity_MBq,
        "administration_datetime": iso(meta.administration.datetime),
        "acquisition_datetime": iso(meta.acquisition.start),
        "acquisition_duration_s": meta.acquisition.duration_s,
        "decay_correction": meta.quantity.decay_correction,
        "decay_reference_datetime": iso(meta.quantity.decay_reference),
        "patient_weight_kg": meta.patient.weight_kg,
        "patient_height_m": meta.patient.height_m,
        "patient_sex": meta.patient.sex,
    }
    return {k: v for k, v in data.items() if v is not None}


def read_image_with_sidecar(
    path: str | Path, *, require_sidecar: bool = False
) -> QuantitativeImage:
    """Read a NIfTI/NRRD/MetaImage file and its JSON sidecar.

    Without a sidecar the image is read with unknown units (``"1"``) and a note, unless
    ``require_sidecar`` is true.

    Raises:
        SidecarError: sidecar missing (when required), unreadable or invalid.
        InputError: the image file cannot be read.
    """
    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(
            f"cannot read image ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="check the file is a complete NIfTI/NRRD/MetaImage",
        ) from exc
    if image.GetDimension() != 3:
        raise InputError(
            f"image has {image.GetDimension()} dimensions, 3 expected",
            path=path,
            fix="give a 3D volume",
        )
    check_spacing(image.GetSpacing(), path=path, tag="image header spacing")
    side = sidecar_path(path)
    if not side.exists():
        if require_sidecar:
            raise SidecarError(
                "JSON sidecar missing",
                path=side,
                fix=f"write {side.name} next to the image (docs/ingest.md)",
            )
        meta = ImageMetadata(
            source_files=(str(path),), problems=(f"no sidecar {side.name}: units unknown",)
        )
        return QuantitativeImage(image=image, meta=meta)
    try:
        data = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SidecarError(
            f"sidecar is not valid JSON ({exc})", path=side, fix="correct the JSON syntax"
        ) from exc
    meta = metadata_from_sidecar(data, path=side, source_files=(str(path), str(side)))
    return QuantitativeImage(image=image, meta=meta)


def write_image_with_sidecar(qimage: QuantitativeImage, path: str | Path) -> Path:
    """Write the image (format from the suffix) and its sidecar atomically; returns the
    sidecar path. Existing files are replaced only once both are fully written."""
    path = Path(path)
    side = sidecar_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    fd, tmp_image = tempfile.mkstemp(suffix=suffix, dir=path.parent, prefix=".tmp-")
    os.close(fd)
    tmp_side = side.with_name(f".tmp-{side.name}")
    try:
        sitk.WriteImage(qimage.image, tmp_image, True)
        tmp_side.write_text(json.dumps(metadata_to_sidecar(qimage.meta), indent=2))
        from .output_dir import file_mode

        os.chmod(tmp_image, file_mode())  # mkstemp gives 0600; the usual mode, like the JSON
        os.replace(tmp_image, path)
        os.replace(tmp_side, side)
    finally:
        for leftover in (Path(tmp_image), tmp_side):
            if leftover.exists():
                leftover.unlink()
    return side
