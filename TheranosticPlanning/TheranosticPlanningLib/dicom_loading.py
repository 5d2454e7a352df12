"""Quantitative PET and SPECT from Slicer's DICOM infrastructure, through the core parser.

Two entry points, both free of application globals (the caller passes the scene and, for
the database, a lookup function such as the DICOM database's ``fileForInstance``):

- :func:`examine_files` / :func:`load_quantitative_series`: what the Theranostics DICOM
  plugin offers and loads — NM reconstructions and PET series as volumes in Bq/mL (SPECT
  with a calibration factor, otherwise counts) or SUVbw, with ``Theranostics.*`` metadata;
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


def examine_files(files: Sequence[str | Path]) -> list[LoadableSeries]:
    """The NM reconstructions and PET series among ``files`` that we can load quantitatively.

    Confidence 0.6 beats Slicer's generic scalar-volume plugin (0.5) for these series, as
    PETDICOMExtension does for PET. Series with a problem the user should know about (no
    administration data, so no SUV) keep a lower confidence and a warning.
    """
    found = []
    for record in series_records(files):
        if record.kind not in QUANTITATIVE_KINDS:
            continue
        meta = image_metadata(record.headers, record.files, modality=record.kind)
        warning = ""
        confidence = 0.6
        if record.kind == "PT":
            try:
                suv_factors(meta)
            except InputError as exc:
                warning = f"SUV not available: {exc}"
                confidence = 0.55
        elif meta.quantity.units == "counts":
            warning = "SPECT in counts: give the calibration factor (cps/MBq) for Bq/mL"
        name = f"{record.kind} {record.description or record.series_instance_uid}"
        found.append(LoadableSeries(name, record.files, record.kind, confidence, warning))
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
