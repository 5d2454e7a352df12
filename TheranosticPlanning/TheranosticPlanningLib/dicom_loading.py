"""Quantitative PET and SPECT from Slicer's DICOM infrastructure, through the core parser.

Two entry points, both free of application globals (the caller passes the scene and, for
the database, lookup functions such as the DICOM database's ``fileValue`` and
``fileForInstance``):

- :func:`examine_files` / :func:`load_quantitative_series`: what the Theranostics DICOM
  plugin offers and loads — NM reconstructions and PET series as volumes in Bq/mL (SPECT
  with a calibration factor, otherwise counts) or SUVbw, with ``Theranostics.*`` metadata.
  Given the database's ``fileValue``, examine groups and classifies the files from the tags
  the database cached at import (:data:`EXAMINE_TAGS`) and opens only the first file of each
  NM/PET series, as Slicer's own plugins do (``Modules/Scripted/DICOMPlugins/
  DICOMScalarVolumePlugin.py``); CT slices are never opened;
- :func:`attach_metadata_from_dicom`: a volume loaded by another plugin (Slicer's scalar
  volume plugin) gets its quantitative metadata from the files behind it, found from the
  node's ``DICOM.instanceUIDs`` attribute.

Both read headers with the same code as the headless CLI (:mod:`theranostics.io`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from theranostics.errors import InputError, MissingTagError
from theranostics.image import QuantitativeImage
from theranostics.io.dicom_meta import image_metadata
from theranostics.io.reader import load_series
from theranostics.io.scan import SeriesRecord, classify, read_header
from theranostics.quant.spect import counts_to_activity_concentration
from theranostics.quant.suv import suv_factors

from .node_attributes import write_metadata
from .volumes import volume_node_from_image

#: Series kinds the plugin loads quantitatively.
QUANTITATIVE_KINDS = ("NM", "PT")

#: Tags :func:`examine_files` reads of every file through ``file_value`` (group, element as
#: the DICOM database spells them). The plugin declares them in its ``tags`` so that the
#: DICOM module adds them to ``slicer.dicomDatabase.tagsToPrecache`` (``Modules/Scripted/
#: DICOM/DICOM.py``) and ``fileValue`` answers from the database without opening the file.
EXAMINE_TAGS = {
    "seriesInstanceUID": "0020,000E",
    "sopClassUID": "0008,0016",
    "modality": "0008,0060",
    "seriesDescription": "0008,103E",
}


@dataclass(frozen=True)
class LoadableSeries:
    """One series the plugin can load: a display name, its files, how sure we are (0–1)
    and a warning to show the user (empty when none)."""

    name: str
    files: tuple[str, ...]
    kind: str
    confidence: float
    warning: str = ""


def series_records(files: Sequence[str | Path]) -> list[SeriesRecord]:
    """Group files into :class:`SeriesRecord` objects by SeriesInstanceUID (headers only)."""
    groups: dict[tuple[str, str], list] = {}
    for f in files:
        ds = read_header(f)
        key = (str(ds.get("SeriesInstanceUID", "")), classify(ds))
        groups.setdefault(key, []).append((str(f), ds))
    return [
        SeriesRecord(uid, kind, tuple(p for p, _ in items), tuple(d for _, d in items))
        for (uid, kind), items in groups.items()
    ]


def header_file_value(path: str | Path, tag: str) -> str:
    """``fileValue`` without a database: the value of ``tag`` (``"gggg,eeee"``) in the
    header of ``path`` as a string, ``""`` when absent or unreadable (the DICOM database's
    contract, for headless use)."""
    group, element = (int(part, 16) for part in tag.split(","))
    try:
        ds = read_header(path)
    except Exception:
        return ""
    value = ds.get((group, element))
    return "" if value is None or value.value is None else str(value.value)


def _grouped_by_tags(files, file_value) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(series UID, kind, description, files)`` from the cached tags only."""
    from theranostics.io.scan import SOP_CLASS_KIND

    groups: dict[tuple[str, str], list[str]] = {}
    descriptions: dict[tuple[str, str], str] = {}
    for f in files:
        uid = file_value(str(f), EXAMINE_TAGS["seriesInstanceUID"])
        sop = file_value(str(f), EXAMINE_TAGS["sopClassUID"])
        kind = (
            SOP_CLASS_KIND.get(sop)
            or (file_value(str(f), EXAMINE_TAGS["modality"]) or "UNKNOWN").upper()
        )
        key = (uid, kind)
        groups.setdefault(key, []).append(str(f))
        descriptions.setdefault(key, file_value(str(f), EXAMINE_TAGS["seriesDescription"]))
    return [(uid, kind, descriptions[(uid, kind)], tuple(fs)) for (uid, kind), fs in groups.items()]


def examine_files(
    files: Sequence[str | Path], file_value: Callable[[str, str], str] | None = None
) -> list[LoadableSeries]:
    """The NM reconstructions and PET series among ``files`` that we can load quantitatively.

    Args:
        files: the files of one candidate group (the DICOM browser's selection).
        file_value: ``(path, "gggg,eeee") -> str`` as ``slicer.dicomDatabase.fileValue``.
            With it, files are grouped and classified from :data:`EXAMINE_TAGS` and only the
            first file of each NM/PET series is opened (its metadata decide warning and
            confidence). Without it every header is read (headless callers).

    Confidence 0.6 beats Slicer's generic scalar-volume plugin (0.5) for these series, as
    PETDICOMExtension does for PET. Series with a problem the user should know about (no
    administration data, so no SUV) keep a lower confidence and a warning.
    """
    if file_value is None:
        candidates = [
            (r.series_instance_uid, r.kind, r.description, r.files, r.headers)
            for r in series_records(files)
            if r.kind in QUANTITATIVE_KINDS
        ]
    else:
        candidates = [
            (uid, kind, description, group, (read_header(group[0]),))
            for uid, kind, description, group in _grouped_by_tags(files, file_value)
            if kind in QUANTITATIVE_KINDS
        ]
    found = []
    for uid, kind, description, group, headers in candidates:
        meta = image_metadata(headers, group[: len(headers)], modality=kind)
        warning = ""
        confidence = 0.6
        if kind == "PT":
            try:
                suv_factors(meta)
            except InputError as exc:
                warning = f"SUV not available: {exc}"
                confidence = 0.55
        elif meta.quantity.units == "counts":
            warning = "SPECT in counts: give the calibration factor (cps/MBq) for Bq/mL"
        name = f"{kind} {description or uid}"
        found.append(LoadableSeries(name, tuple(group), kind, confidence, warning))
    return found


def load_quantitative_series(
    files: Sequence[str | Path],
    scene,
    *,
    name: str | None = None,
    calibration_cps_per_MBq: float | None = None,
    units: str = "Bq/mL",
):
    """Load one NM or PET series as a volume node with ``Theranostics.*`` metadata.

    Args:
        files: the series' files.
        scene: the MRML scene to add the node to.
        name: node name (default: the series description).
        calibration_cps_per_MBq: SPECT calibration; a counts image stays in counts without it.
        units: ``"Bq/mL"`` or ``"SUVbw"`` (PET, or calibrated SPECT, with weight and
            administered activity; refused with the missing tag named otherwise).

    Raises:
        InputError: not exactly one NM/PET series, or SUV asked without what it needs.
    """
    records = [r for r in series_records(files) if r.kind in QUANTITATIVE_KINDS]
    if len(records) != 1:
        raise InputError(
            f"{len(records)} NM/PET series among the {len(files)} files; one was expected",
            path=str(files[0]) if files else None,
            tag="SeriesInstanceUID (0020,000E)",
            fix="pass the files of one series",
        )
    qimage = load_series(records[0])
    if qimage.meta.quantity.units == "counts" and calibration_cps_per_MBq:
        qimage = counts_to_activity_concentration(qimage, calibration_cps_per_MBq)
    if units == "SUVbw":
        qimage = _to_suv(qimage)
    elif units != "Bq/mL":
        raise InputError(f"unknown units {units!r}", tag="units", fix="use Bq/mL or SUVbw")
    return volume_node_from_image(qimage, scene, name)


def _to_suv(qimage: QuantitativeImage) -> QuantitativeImage:
    from dataclasses import replace

    import SimpleITK as sitk

    factors = suv_factors(qimage.meta)  # raises naming the missing tag
    image = sitk.Cast(qimage.image, sitk.sitkFloat32) * float(factors.suv_bw_factor)
    quantity = replace(
        qimage.meta.quantity, units="SUVbw", units_source=f"Bq/mL x SUVbw ({factors.rule})"
    )
    return QuantitativeImage(image, qimage.meta.replace(quantity=quantity))


def attach_metadata_from_dicom(node, file_for_instance: Callable[[str], str]) -> None:
    """Give a DICOM-loaded volume node its quantitative metadata from its files.

    Args:
        node: a volume node with Slicer's ``DICOM.instanceUIDs`` attribute (space-separated
            SOPInstanceUIDs of the files it was loaded from).
        file_for_instance: maps a SOPInstanceUID to its file path (the DICOM database's
            ``fileForInstance``); an empty string means unknown.

    Raises:
        MissingTagError: the node has no instance UIDs (it was not loaded from DICOM), or
            none of them is in the database.
    """
    uids = (node.GetAttribute("DICOM.instanceUIDs") or "").split()
    where = f"node {node.GetName()!r}"
    if not uids:
        raise MissingTagError(
            "the volume carries no DICOM instance UIDs",
            path=where,
            tag="DICOM.instanceUIDs (node attribute)",
            fix="load the series through the DICOM module, or load it with the Theranostics plugin",
        )
    files = [f for f in (file_for_instance(uid) for uid in uids) if f]
    if not files:
        raise MissingTagError(
            f"none of the {len(uids)} instances is in the DICOM database",
            path=where,
            tag="DICOM.instanceUIDs (node attribute)",
            fix="re-import the files into the DICOM database",
        )
    records = series_records(files)
    record = records[0]
    meta = image_metadata(record.headers, record.files, modality=record.kind)
    write_metadata(node, meta)
