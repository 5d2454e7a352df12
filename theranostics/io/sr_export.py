"""Per-segment measurements as a DICOM Comprehensive SR following TID 1500 "Measurement
Report" (highdicom), each measurement group (TID 1411 "Volumetric ROI Measurements")
referencing one segment of a DICOM SEG.

This is the layout 3D Slicer's QuantitativeReporting (dcmqi ``tid1500reader``) loads: SR
Modality, Comprehensive SR storage class, ContentTemplateSequence TID 1500, the SEG listed in
the evidence, one group per segment with Tracking Identifier (the segment label), Tracking
Unique Identifier (the segment's TrackingUID), Referenced Segment and Source series for
segmentation; each measurement is a quantity concept with a Derivation modifier (Mean,
Maximum, Peak Value Within ROI ...) and UCUM units. QuantitativeReporting builds its table
columns from the first group, so give every segment the same measurement keys. Comprehensive
SR rather than Comprehensive 3D SR because the report holds no 3D coordinates and older
QuantitativeReporting releases recognise only Enhanced and Comprehensive SR.

Measurement keys (ours, with units in their names) map to codes in :data:`MEASUREMENTS`;
docs/dicom-export.md has the table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from .. import __version__
from ..errors import InputError, UnitsError
from .export_common import derived_uid, pin_times, read_headers, save_atomic
from .seg_read import _open as _open_seg
from .seg_read import _segment_infos, segment_keys

logger = logging.getLogger(__name__)

PRIVATE_SCHEME = "99THERANOSTICS"
PRIVATE_SCHEME_NAME = "Theranostics measurement concepts"
Concept = tuple[str, str, str]  # (value, scheme, meaning)


def _c(code) -> Concept:
    """(value, scheme, meaning) of a pydicom concept-dictionary code: codes come from
    pydicom's copy of DICOM PS3.16 rather than being typed in by hand."""
    return (code.value, code.scheme_designator, code.meaning)


_SUVBW: Concept = _c(codes.DCM.Suvbw)
_NM_ACTIVITY: Concept = _c(codes.DCM.NuclearMedicineTomographicActivity)
_DOSE: Concept = _c(codes.DCM.AbsorbedDose)
_MEAN: Concept = _c(codes.cid7464.Mean)
_MAX: Concept = _c(codes.cid7464.Maximum)
_MEDIAN: Concept = _c(codes.cid7464.Median)
_PEAK: Concept = _c(codes.cid7464.PeakValueWithinROI)
_TOTAL: Concept = _c(codes.cid7464.Total)

#: SUV flavours: UCUM unit code (DICOM CID 85) -> (quantity concept (CID 7180), unit meaning).
SUV_UNITS: dict[str, tuple[Concept, str]] = {
    "g/ml{SUVbw}": (_SUVBW, "Standardized Uptake Value body weight"),
    "g/ml{SUVlbm}": (_c(codes.DCM.Suvlbm), "Standardized Uptake Value lean body mass (James)"),
    "g/ml{SUVlbm(Janma)}": (
        _c(codes.DCM.SuvlbmJanma),
        "Standardized Uptake Value lean body mass (Janma)",
    ),
    "g/ml{SUVibw}": (_c(codes.DCM.Suvibw), "Standardized Uptake Value ideal body weight"),
    "cm2/ml{SUVbsa}": (_c(codes.DCM.Suvbsa), "Standardized Uptake Value body surface area"),
}


@dataclass(frozen=True)
class MeasurementSpec:
    """How one of our measurement keys is coded: quantity concept, optional Derivation
    modifier and default UCUM unit (code, meaning)."""

    concept: Concept
    derivation: Concept | None
    unit: tuple[str, str]


#: Our measurement keys -> codes. SUV keys follow the SUV flavour given in ``units``.
MEASUREMENTS: dict[str, MeasurementSpec] = {
    "suv_max": MeasurementSpec(_SUVBW, _MAX, ("g/ml{SUVbw}", SUV_UNITS["g/ml{SUVbw}"][1])),
    "suv_peak": MeasurementSpec(_SUVBW, _PEAK, ("g/ml{SUVbw}", SUV_UNITS["g/ml{SUVbw}"][1])),
    "suv_mean": MeasurementSpec(_SUVBW, _MEAN, ("g/ml{SUVbw}", SUV_UNITS["g/ml{SUVbw}"][1])),
    "volume_mL": MeasurementSpec(_c(codes.SCT.Volume), None, ("ml", "milliliter")),
    "total_lesion_uptake_mL": MeasurementSpec(
        ("TLU", PRIVATE_SCHEME, "Total Lesion Uptake (SUVmean x volume)"),
        None,
        ("ml{SUVbw}", "milliliter x SUVbw"),
    ),
    "activity_MBq": MeasurementSpec(_NM_ACTIVITY, _TOTAL, ("MBq", "megabecquerel")),
    "concentration_mean_Bq_per_mL": MeasurementSpec(
        _NM_ACTIVITY, _MEAN, ("Bq/ml", "Becquerels/milliliter")
    ),
    "concentration_max_Bq_per_mL": MeasurementSpec(
        _NM_ACTIVITY, _MAX, ("Bq/ml", "Becquerels/milliliter")
    ),
    "mean_dose_Gy": MeasurementSpec(_DOSE, _MEAN, ("Gy", "Gy")),
    "max_dose_Gy": MeasurementSpec(_DOSE, _MAX, ("Gy", "Gy")),
    "median_dose_Gy": MeasurementSpec(_DOSE, _MEDIAN, ("Gy", "Gy")),
    "bed_Gy": MeasurementSpec(
        ("BED", PRIVATE_SCHEME, "Biologically Effective Dose"), _MEAN, ("Gy", "Gy")
    ),
    "tia_MBq_h": MeasurementSpec(
        ("TIA", PRIVATE_SCHEME, "Time-Integrated Activity"),
        None,
        ("MBq.h", "megabecquerel hour"),
    ),
    "mass_g": MeasurementSpec(("MASS", PRIVATE_SCHEME, "Mass"), None, ("g", "gram")),
}
_SUV_KEYS = ("suv_max", "suv_peak", "suv_mean")

#: Procedure Reported (CID 100) by the modality of the measured image.
PROCEDURES: dict[str, Concept] = {
    "PT": _c(codes.cid100.PETWholeBody),
    "NM": _c(codes.cid100.NMUnspecifiedBodyRegion),
    "CT": _c(codes.cid100.CTUnspecifiedBodyRegion),
}
_IMAGING_PROCEDURE: Concept = _c(codes.cid100.ImagingProcedure)


def write_measurement_sr(
    path: str | Path,
    seg_path: str | Path,
    source_files: Sequence[str | Path],
    measurements: Mapping[str, Mapping[str, float]],
    *,
    units: Mapping[str, str] | None = None,
    series_description: str = "Measurements",
    algorithm: str = "Theranostics",
    algorithm_version: str = __version__,
    manufacturer: str = "Theranostics",
    series_number: int = 301,
    content_datetime: datetime | None = None,
) -> Path | None:
    """Write a TID 1500 measurement report whose groups reference the segments of a SEG.

    Args:
        path: the output file (written atomically).
        seg_path: the DICOM SEG the measurements were made in (from
            :func:`theranostics.io.seg_export.write_seg`).
        source_files: the DICOM files of the image measured (listed as evidence; patient and
            study of the SR come from the SEG).
        measurements: segment label (as in the SEG) -> {measurement key -> value}; keys from
            :data:`MEASUREMENTS`, values finite numbers in the units the key names. Groups
            follow the SEG's segment order; segments without measurements get no group.
        units: optional measurement key -> UCUM unit code. Only SUV flavours can change:
            ``suv_*`` accept the codes of :data:`SUV_UNITS` (default ``g/ml{SUVbw}``, which
            also sets the quantity concept); ``total_lesion_uptake_mL`` follows as
            ``ml{SUVxx}``. Other keys accept their default unit only (their name fixes it).
        series_description, algorithm, algorithm_version, manufacturer, series_number: as in
            the SEG writer.
        content_datetime: Series/Content/InstanceCreation date and time; default now.

    Returns:
        The path written, or ``None`` when ``measurements`` is empty (no group to report).

    Raises:
        InputError: unknown segment label or measurement key, NaN/infinite/non-numeric
            value, SEG of another patient than the source files.
        UnitsError: a unit a key does not allow.
    """
    if not measurements:
        logger.info("write_measurement_sr: no measurements, no SR written to %s", path)
        return None
    import highdicom as hd

    seg = _open_seg(seg_path)
    infos = _segment_infos(seg)
    by_key = dict(zip(segment_keys(infos), infos))
    unknown = [name for name in measurements if name not in by_key]
    if unknown:
        raise InputError(
            f"measurements name segments {unknown} that the SEG does not hold "
            f"(segments: {list(by_key)})",
            path=seg_path,
            tag="SegmentLabel (0062,0005)",
            fix="use the SEG's segment labels as measurement keys",
        )
    resolved = _resolve_units(units or {})
    files = [str(f) for f in source_files]
    sources = read_headers(files, what="measured image")
    if str(sources[0].get("PatientID", "")) != str(seg.get("PatientID", "")):
        raise InputError(
            f"the SEG belongs to patient {seg.get('PatientID', '?')!r}, the measured image to "
            f"{sources[0].get('PatientID', '?')!r}",
            path=files[0],
            tag="PatientID (0010,0020)",
            fix="pass the image series of the same patient as the SEG",
        )
    seg_header = pydicom.dcmread(str(seg_path), stop_before_pixels=True)
    source_series = hd.sr.SourceSeriesForSegmentation(
        seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    )
    algorithm_id = hd.sr.AlgorithmIdentification(name=algorithm, version=str(algorithm_version))
    groups = []
    for key, info in by_key.items():
        if key not in measurements:
            continue
        items = _measurements(hd, key, measurements[key], resolved, seg_path)
        if not items:
            continue
        sites = None
        if info.category[0] == "91723000":  # Anatomical Structure: the organ is the site
            sites = [hd.sr.FindingSite(hd.sr.CodedConcept(*info.property_type))]
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=info.tracking_uid or derived_uid(seg.SOPInstanceUID, key),
                    identifier=key,
                ),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID,
                    sop_instance_uid=seg.SOPInstanceUID,
                    segment_number=info.number,
                    source_series=source_series,
                ),
                finding_type=hd.sr.CodedConcept(*info.property_type),
                finding_sites=sites,
                algorithm_id=algorithm_id,
                measurements=items,
            )
        )
    if not groups:
        logger.info("write_measurement_sr: no measurement values, no SR written to %s", path)
        return None

    modality = str(sources[0].get("Modality", "")).upper()
    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid("device observer", algorithm, algorithm_version),
            name=algorithm,
            manufacturer_name=manufacturer,
            model_name=algorithm,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=hd.sr.CodedConcept(*PROCEDURES.get(modality, _IMAGING_PROCEDURE)),
        imaging_measurements=groups,
    )
    sop_uid = derived_uid(
        "SR",
        seg.SOPInstanceUID,
        series_description,
        *(h.SOPInstanceUID for h in sources),
        repr(sorted((k, sorted(v.items())) for k, v in measurements.items())),
        repr(sorted(resolved.items())),
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[seg_header, *sources],
        content=report,
        series_instance_uid=derived_uid(sop_uid, "series"),
        series_number=int(series_number),
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=manufacturer,
        is_complete=True,
        is_final=False,
        is_verified=False,
    )
    sr.SeriesDescription = series_description
    sr.CodingSchemeIdentificationSequence = [_private_scheme()]
    pin_times(sr, content_datetime or datetime.now())
    return save_atomic(sr, path)


def _resolve_units(units: Mapping[str, str]) -> dict[str, str]:
    resolved = {key: spec.unit[0] for key, spec in MEASUREMENTS.items()}
    suv_flavours = set()
    for key, code in units.items():
        if key not in MEASUREMENTS:
            raise InputError(
                f"units given for unknown measurement key {key!r}",
                tag="units",
                fix=f"use keys of {sorted(MEASUREMENTS)}",
            )
        if key in _SUV_KEYS:
            code = code.replace("{SUVbw}g/ml", "g/ml{SUVbw}")  # older CID 85 spelling
            if code not in SUV_UNITS:
                raise UnitsError(
                    f"{key}: unit {code!r} is not an SUV unit ({sorted(SUV_UNITS)})",
                    tag="units",
                    fix="use g/ml{SUVbw} (body weight) or another CID 85 SUV unit",
                )
            suv_flavours.add(code)
        elif key != "total_lesion_uptake_mL" and code != MEASUREMENTS[key].unit[0]:
            raise UnitsError(
                f"{key}: unit {code!r} contradicts the key, which is in "
                f"{MEASUREMENTS[key].unit[0]}",
                tag="units",
                fix="convert the value to the unit the key names, or omit units for it",
            )
        resolved[key] = code
    if len(suv_flavours) > 1:
        raise UnitsError(
            f"SUV measurements use different flavours {sorted(suv_flavours)}",
            tag="units",
            fix="report all SUVs of one report with one normalisation",
        )
    flavour = suv_flavours.pop() if suv_flavours else "g/ml{SUVbw}"
    for key in _SUV_KEYS:
        resolved[key] = flavour
    tlu = "ml" + flavour[flavour.index("{") :]
    if units.get("total_lesion_uptake_mL", tlu) != tlu:
        raise UnitsError(
            f"total_lesion_uptake_mL: unit {units['total_lesion_uptake_mL']!r} does not match "
            f"the SUV unit {flavour!r} (expected {tlu!r})",
            tag="units",
            fix="omit it: it follows the SUV flavour",
        )
    resolved["total_lesion_uptake_mL"] = tlu
    return resolved


def _measurements(hd, segment: str, values: Mapping[str, float], units, seg_path) -> list:
    items = []
    for key in MEASUREMENTS:  # one fixed order: QuantitativeReporting's columns line up
        if key not in values:
            continue
        value = values[key]
        if isinstance(value, bool | np.bool_):
            value = None  # a flag is not a measurement
        elif not isinstance(value, int | float):
            try:
                value = float(value)  # numpy scalars
            except (TypeError, ValueError):
                value = None
        if value is None or not math.isfinite(float(value)):
            raise InputError(
                f"segment {segment!r}: {key} = {values[key]!r} is not a finite number",
                path=seg_path,
                tag=key,
                fix="omit measurements that could not be computed instead of passing NaN",
            )
        spec = MEASUREMENTS[key]
        concept, unit = spec.concept, (units[key], spec.unit[1])
        if key in _SUV_KEYS:
            concept, meaning = SUV_UNITS[units[key]]
            unit = (units[key], meaning)
        elif key == "total_lesion_uptake_mL":
            unit = (units[key], "milliliter x " + units[key][3:-1])
        items.append(
            hd.sr.Measurement(
                name=hd.sr.CodedConcept(*concept),
                value=float(value),
                unit=hd.sr.CodedConcept(unit[0], "UCUM", unit[1]),
                derivation=hd.sr.CodedConcept(*spec.derivation) if spec.derivation else None,
            )
        )
    extra = sorted(set(values) - set(MEASUREMENTS))
    if extra:
        raise InputError(
            f"segment {segment!r}: unknown measurement keys {extra}",
            tag="measurements",
            fix=f"use keys of {sorted(MEASUREMENTS)}",
        )
    return items


def _private_scheme() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "Theranostics project"
    return item


def read_measurement_sr(path: str | Path) -> dict[str, dict[str, float]]:
    """The measurements of a TID 1500 report: tracking identifier -> {key -> value}. Our
    keys where the codes match :data:`MEASUREMENTS` (any SUV flavour); other measurements
    as ``"<quantity> <derivation> [<unit>]"``.

    Raises:
        InputError: missing file or not a TID 1500 measurement report.
    """
    import highdicom as hd

    path = Path(path)
    if not path.is_file():
        raise InputError("SR file not found", path=path, fix="check the path")
    try:
        sr = hd.sr.srread(str(path))
        groups = sr.content.get_volumetric_roi_measurement_groups()
    except (ValueError, AttributeError, TypeError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(
            f"not a TID 1500 measurement report ({exc})", path=path, fix="pass an SR file"
        ) from exc
    lookup = {}
    for key, spec in MEASUREMENTS.items():
        concepts = [SUV_UNITS[u][0] for u in SUV_UNITS] if key in _SUV_KEYS else [spec.concept]
        for concept in concepts:
            lookup[(concept[0], concept[1], spec.derivation[0] if spec.derivation else None)] = key
    result: dict[str, dict[str, float]] = {}
    for group in groups:
        name = str(group.tracking_identifier)
        values = result.setdefault(name, {})
        for m in group.get_measurements():
            derivation = m.derivation
            code = (
                m.name.value,
                m.name.scheme_designator,
                derivation.value if derivation else None,
            )
            label = lookup.get(code) or (
                f"{m.name.meaning}{' ' + derivation.meaning if derivation else ''} [{m.unit.value}]"
            )
            values[label] = float(m.value)
    return result
