"""Image metadata as MRML node attributes (``Theranostics.*``) and back.

Slicer node attributes are strings saved with the scene (.mrb/.mrml), so the metadata of a
quantitative image survives a save and reload in Slicer. Every field of
:class:`theranostics.metadata.ImageMetadata` has one attribute; the full list with units and
formats is in ``docs/mrml-attributes.md``. Formats: numbers as Python ``repr`` (exact round
trip), datetimes as ISO 8601 without zone (scanner local time, as in the core), lists as JSON.
An absent attribute means "unknown" (the dataclass default).
"""

from __future__ import annotations

import json
from datetime import datetime

from theranostics.errors import InvalidTagError, UnitsError
from theranostics.metadata import (
    DECAY_CORRECTION_VALUES,
    KNOWN_UNITS,
    AcquisitionInfo,
    Administration,
    ImageMetadata,
    PatientInfo,
    QuantityInfo,
)

PREFIX = "Theranostics."

#: attribute name (without prefix) -> (part of ImageMetadata or None for top level, field, kind)
FIELDS: dict[str, tuple[str | None, str, str]] = {
    "Modality": (None, "modality", "str"),
    "SeriesInstanceUID": (None, "series_instance_uid", "str"),
    "SeriesDescription": (None, "series_description", "str"),
    "FrameOfReferenceUID": (None, "frame_of_reference_uid", "str"),
    "Manufacturer": (None, "manufacturer", "str"),
    "SourceFiles": (None, "source_files", "list"),
    "Problems": (None, "problems", "list"),
    "PatientWeightKg": ("patient", "weight_kg", "float"),
    "PatientHeightM": ("patient", "height_m", "float"),
    "PatientSex": ("patient", "sex", "str"),
    "Nuclide": ("administration", "nuclide", "str"),
    "Radiopharmaceutical": ("administration", "radiopharmaceutical", "str"),
    "AdministeredActivityMBq": ("administration", "activity_MBq", "float"),
    "AdministrationDateTime": ("administration", "datetime", "datetime"),
    "ActivityRule": ("administration", "activity_rule", "str"),
    "HalfLifeS": ("administration", "half_life_s", "float"),
    "AcquisitionStart": ("acquisition", "start", "datetime"),
    "AcquisitionDurationS": ("acquisition", "duration_s", "float"),
    "AcquisitionStartSource": ("acquisition", "start_source", "str"),
    "AcquisitionDurationSource": ("acquisition", "duration_source", "str"),
    "Units": ("quantity", "units", "str"),
    "DecayCorrection": ("quantity", "decay_correction", "str"),
    "DecayReference": ("quantity", "decay_reference", "datetime"),
    "DecayFactor": ("quantity", "decay_factor", "float"),
    "UnitsSource": ("quantity", "units_source", "str"),
}

_PARTS = {
    "patient": PatientInfo,
    "administration": Administration,
    "acquisition": AcquisitionInfo,
    "quantity": QuantityInfo,
}


def _format(value, kind: str) -> str | None:
    if value is None or (kind in ("str", "list") and not value):
        return None
    if kind == "float":
        return repr(float(value))
    if kind == "datetime":
        return value.isoformat()
    if kind == "list":
        return json.dumps(list(value))
    return str(value)


def write_metadata(node, meta: ImageMetadata) -> None:
    """Store ``meta`` as ``Theranostics.*`` attributes of ``node``; stale ones are removed."""
    for name, (part, field, kind) in FIELDS.items():
        owner = meta if part is None else getattr(meta, part)
        text = _format(getattr(owner, field), kind)
        if text is None:
            node.RemoveAttribute(PREFIX + name)
        else:
            node.SetAttribute(PREFIX + name, text)


def _parse(text: str, kind: str, name: str, where: str):
    try:
        if kind == "float":
            return float(text)
        if kind == "datetime":
            return datetime.fromisoformat(text)
        if kind == "list":
            values = json.loads(text)
            if not isinstance(values, list):
                raise ValueError("not a JSON list")
            return tuple(str(v) for v in values)
    except ValueError as exc:
        raise InvalidTagError(
            f"attribute value {text!r} cannot be read ({exc})",
            path=where,
            tag=PREFIX + name,
            fix="set the attribute in the format of docs/mrml-attributes.md or remove it",
        ) from exc
    return text


def read_metadata(node) -> ImageMetadata:
    """The :class:`ImageMetadata` stored on ``node`` by :func:`write_metadata`.

    Raises:
        InvalidTagError: an attribute cannot be parsed or has a value outside its set.
        UnitsError: ``Theranostics.Units`` is not one of ``KNOWN_UNITS``.
    """
    where = f"node {node.GetName()!r} ({node.GetID()})"
    top: dict = {}
    parts: dict[str, dict] = {part: {} for part in _PARTS}
    for name, (part, field, kind) in FIELDS.items():
        text = node.GetAttribute(PREFIX + name)
        if text is None or text == "":
            continue
        value = _parse(text, kind, name, where)
        (top if part is None else parts[part])[field] = value

    units = parts["quantity"].get("units")
    if units is not None and units not in KNOWN_UNITS:
        raise UnitsError(
            f"unknown units {units!r}",
            path=where,
            tag=PREFIX + "Units",
            fix=f"use one of {', '.join(KNOWN_UNITS)}",
        )
    correction = parts["quantity"].get("decay_correction")
    if correction is not None and correction not in DECAY_CORRECTION_VALUES:
        raise InvalidTagError(
            f"unknown decay correction {correction!r}",
            path=where,
            tag=PREFIX + "DecayCorrection",
            fix=f"use one of {', '.join(DECAY_CORRECTION_VALUES)}",
        )
    sex = parts["patient"].get("sex")
    if sex is not None and sex not in ("F", "M"):
        raise InvalidTagError(
            f"patient sex {sex!r} is not F or M",
            path=where,
            tag=PREFIX + "PatientSex",
            fix="use F or M, or remove the attribute when unknown",
        )
    return ImageMetadata(**top, **{part: cls(**parts[part]) for part, cls in _PARTS.items()})
