"""3D Slicer's own files: volumes (``.nrrd``, ``.nii``, ``.nii.gz`` ...) and segmentations
(``.seg.nrrd``).

Volumes. SimpleITK reads the geometry from the header (origin, spacing and the full direction
matrix, negative axes included; NIfTI's RAS+ storage and NRRD ``right-anterior-superior``
spaces are converted to LPS on reading). What a DICOM header would carry (units, nuclide,
administered activity, administration and acquisition times, decay correction) is not in
these files: it comes from the JSON sidecar of :mod:`.sidecar` and/or from explicit
overrides (the command-line options). :func:`read_volume` merges the two (an override wins,
with a note), validates the result once with :func:`~.sidecar.metadata_from_sidecar` and
refuses a volume without units; it never guesses a missing value.

Segmentations. Slicer writes a segmentation as a NRRD whose first axis (``kinds: list``) is
the *layer*: one 3-D label volume per layer, and ``SegmentN_Name``, ``SegmentN_LabelValue``,
``SegmentN_Layer``, ``SegmentN_Extent``, ``SegmentN_Color``, ``SegmentN_ID`` fields describe
segment N (Slicer's ``vtkMRMLSegmentationStorageNode``). Segment N is the voxels of layer
``SegmentN_Layer`` equal to ``SegmentN_LabelValue``; segments in different layers may
overlap. A file with a single layer is an ordinary 3-D NRRD with the same fields.
:func:`read_segmentation` reads it into a :class:`SlicerSegmentation`;
:func:`segmentation_masks` puts the segments on a reference image grid as a
:class:`~.masks.MaskSet` by the fractional-occupancy rule of :mod:`.masks` (one resampling per
layer), which is also what :func:`~.masks.load_masks` does for a ``.seg.nrrd``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError, SidecarError, UnitsError
from ..image import QuantitativeImage, check_spacing
from .sidecar import SCHEMA, metadata_from_sidecar, sidecar_path

#: File name endings of volume files read by :func:`read_volume`.
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
#: File name endings that always mean a Slicer segmentation.
SEGMENTATION_SUFFIXES = (".seg.nrrd", ".seg.nhdr")
_SEGMENT_KEY = re.compile(r"^Segment(\d+)_(\w+)$")


def is_volume_file(path: str | Path) -> bool:
    """True when the file name ends like a NRRD/NIfTI/MetaImage volume or segmentation."""
    return Path(path).name.lower().endswith(VOLUME_SUFFIXES)


def _header(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(
            f"cannot read the image header ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="check that the file is a complete NRRD/NIfTI/MetaImage file",
        ) from exc
    return reader


def is_slicer_segmentation(path: str | Path) -> bool:
    """True for a ``.seg.nrrd`` file or any NRRD whose header has ``Segment0_Name``."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith(SEGMENTATION_SUFFIXES):
        return True
    if not name.endswith((".nrrd", ".nhdr")) or not p.is_file():
        return False
    try:
        return "Segment0_Name" in _header(p).GetMetaDataKeys()
    except InputError:
        return False


# --------------------------------------------------------------------------------------------
# Segmentations


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a Slicer segmentation file.

    Attributes:
        index: N of the ``SegmentN_*`` fields (file order).
        segment_id: ``SegmentN_ID``.
        name: ``SegmentN_Name`` as written.
        label_value: ``SegmentN_LabelValue`` (> 0).
        layer: ``SegmentN_Layer`` (0-based index of the label volume).
        extent: ``SegmentN_Extent`` (i0, i1, j0, j1, k0, k1) voxel bounds, or ``None``.
        color: ``SegmentN_Color`` (r, g, b in [0, 1]), or ``None``.
    """

    index: int
    segment_id: str
    name: str
    label_value: int
    layer: int
    extent: tuple[int, ...] | None = None
    color: tuple[float, ...] | None = None


@dataclass(frozen=True)
class SlicerSegmentation:
    """A segmentation read from a ``.seg.nrrd``: its segments and one label image per layer.

    ``layers`` are 3-D integer images in LPS sharing one grid (the file's).
    """

    path: str
    segments: tuple[SegmentInfo, ...]
    layers: tuple[sitk.Image, ...]

    @property
    def names(self) -> list[str]:
        """Segment names in file order."""
        return [s.name for s in self.segments]

    @property
    def grid(self) -> sitk.Image:
        """The label image of layer 0 (for its geometry)."""
        return self.layers[0]

    @property
    def voxel_volume_mL(self) -> float:
        """Volume of one voxel of the segmentation grid, mL."""
        return float(np.prod(self.grid.GetSpacing())) / 1000.0

    def segment(self, name: str) -> SegmentInfo:
        """The segment called ``name`` (exact spelling).

        Raises:
            InputError: no segment has that name (the message lists the names).
        """
        for s in self.segments:
            if s.name == name:
                return s
        raise InputError(
            f"no segment named {name!r}",
            path=self.path,
            tag="SegmentN_Name",
            fix=f"choose among: {', '.join(repr(n) for n in self.names)}",
        )

    def mask_array(self, name: str) -> np.ndarray:
        """Boolean ``[k, j, i]`` array of one segment on the segmentation grid."""
        s = self.segment(name)
        return sitk.GetArrayViewFromImage(self.layers[s.layer]) == s.label_value

    def mask(self, name: str) -> sitk.Image:
        """Binary ``uint8`` image of one segment on the segmentation grid."""
        image = sitk.GetImageFromArray(self.mask_array(name).astype(np.uint8))
        image.CopyInformation(self.grid)
        return image

    def voxel_counts(self) -> dict[str, int]:
        """Segment name -> number of voxels on the segmentation grid."""
        out = {}
        for layer_index, layer in enumerate(self.layers):
            members = [s for s in self.segments if s.layer == layer_index]
            if not members:
                continue
            values = sitk.GetArrayViewFromImage(layer)
            counts = np.bincount(values.ravel().astype(np.int64, copy=False))
            for s in members:
                out[s.name] = int(counts[s.label_value]) if s.label_value < counts.size else 0
        return {s.name: out[s.name] for s in self.segments}


def _int_list(text: str, key: str, path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split())
    except ValueError:
        raise InputError(
            f"{key} {text!r} is not a list of integers",
            path=path,
            tag=key,
            fix="save the segmentation again from Slicer",
        ) from None


def read_segmentation(path: str | Path) -> SlicerSegmentation:
    """Read a Slicer segmentation (``.seg.nrrd``, 3-D or 4-D layered).

    Raises:
        FileNotFoundError: no such file.
        InputError: unreadable file, no ``SegmentN_*`` fields (no segments), a segment without
            name/label value/layer, a layer index beyond the file's layers, non-integer labels,
            two segments with the same name or the same (layer, label value).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such segmentation file")
    reader = _header(path)
    fields: dict[int, dict[str, str]] = {}
    for key in reader.GetMetaDataKeys():
        m = _SEGMENT_KEY.match(key)
        if m:
            fields.setdefault(int(m.group(1)), {})[m.group(2)] = reader.GetMetaData(key).strip()
    if not fields:
        raise InputError(
            "no segments: the file has no SegmentN_Name fields (not a Slicer segmentation, or "
            "an empty one)",
            path=path,
            tag="Segment0_Name",
            fix="save the segmentation from Slicer's Segmentations module as .seg.nrrd, or pass "
            "a label map with a name table",
        )
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(
            f"cannot read the segmentation voxels ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="check the file is complete",
        ) from exc
    if image.GetDimension() != 3:
        raise InputError(
            f"segmentation has {image.GetDimension()} spatial dimensions, 3 expected",
            path=path,
            fix="give a 3-D segmentation",
        )
    check_spacing(image.GetSpacing(), path=path, tag="space directions")
    n_layers = image.GetNumberOfComponentsPerPixel()
    if n_layers == 1:
        layers = [image]
    else:
        layers = [sitk.VectorIndexSelectionCast(image, i) for i in range(n_layers)]
    pixel = sitk.GetArrayViewFromImage(layers[0]).dtype
    if not np.issubdtype(pixel, np.integer):
        raise InputError(
            f"segmentation voxels are {pixel}, not integer labels",
            path=path,
            tag="type",
            fix="save the segmentation from Slicer (binary labelmap representation)",
        )
    segments = []
    for index in sorted(fields):
        f = fields[index]
        for needed in ("Name", "LabelValue", "Layer"):
            if needed not in f or f[needed] == "":
                raise InputError(
                    f"segment {index} has no {needed}",
                    path=path,
                    tag=f"Segment{index}_{needed}",
                    fix="save the segmentation again from Slicer",
                )
        label = _int_list(f["LabelValue"], f"Segment{index}_LabelValue", path)
        layer = _int_list(f["Layer"], f"Segment{index}_Layer", path)
        if len(label) != 1 or label[0] <= 0:
            raise InputError(
                f"segment {f['Name']!r}: label value {f['LabelValue']!r} is not one integer > 0",
                path=path,
                tag=f"Segment{index}_LabelValue",
                fix="save the segmentation again from Slicer",
            )
        if len(layer) != 1 or not 0 <= layer[0] < n_layers:
            raise InputError(
                f"segment {f['Name']!r}: layer {f['Layer']!r} does not exist (the file has "
                f"{n_layers} layer(s))",
                path=path,
                tag=f"Segment{index}_Layer",
                fix="save the segmentation again from Slicer",
            )
        extent = _int_list(f["Extent"], f"Segment{index}_Extent", path) if "Extent" in f else None
        color = None
        if f.get("Color"):
            try:
                color = tuple(float(v) for v in f["Color"].split())
            except ValueError:
                color = None
        segments.append(
            SegmentInfo(
                index=index,
                segment_id=f.get("ID", f"Segment_{index}"),
                name=f["Name"],
                label_value=label[0],
                layer=layer[0],
                extent=extent,
                color=color,
            )
        )
    names = [s.name for s in segments]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(
            f"segment name(s) {dupes} used more than once",
            path=path,
            tag="SegmentN_Name",
            fix="rename the segments in Slicer so that every one has its own name",
        )
    keys = [(s.layer, s.label_value) for s in segments]
    clash = sorted({k for k in keys if keys.count(k) > 1})
    if clash:
        raise InputError(
            f"several segments share (layer, label value) {clash}",
            path=path,
            tag="SegmentN_LabelValue",
            fix="save the segmentation again from Slicer",
        )
    return SlicerSegmentation(str(path), tuple(segments), tuple(layers))


def segmentation_weights(
    seg: SlicerSegmentation,
    reference: sitk.Image,
    notes: list[str],
    structures: Sequence[str] | None = None,
    skip_empty: bool = False,
) -> dict[str, np.ndarray]:
    """Occupancy arrays ``[k, j, i]`` on ``reference`` of the chosen segments (file order, or
    the order of ``structures``), one resampling per layer (:mod:`.masks` rule).

    Raises:
        InputError: an unknown segment name, an empty segment (unless ``skip_empty``).
        GeometryError: a segment does not overlap the reference grid.
    """
    from .masks import _occupancy_from_labels

    chosen = [seg.segment(n) for n in (structures if structures is not None else seg.names)]
    path = Path(seg.path)
    out: dict[str, np.ndarray] = {}
    for layer_index, layer in enumerate(seg.layers):
        wanted = {s.name: s.label_value for s in chosen if s.layer == layer_index}
        if wanted:
            out.update(_occupancy_from_labels(layer, wanted, reference, path, notes, skip_empty))
    n_layers = len({s.layer for s in chosen})
    if n_layers > 1:
        notes.append(
            f"{path.name}: segments from {n_layers} layers (they may overlap; each keeps all "
            "of its voxels)"
        )
    return {s.name: out[s.name] for s in chosen if s.name in out}


def label_occupancy(
    labels: sitk.Image,
    wanted: Mapping[str, int],
    reference: sitk.Image,
    *,
    source: str = "labels",
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Occupancy arrays ``[k, j, i]`` on ``reference`` of the label values ``wanted``
    (name -> value) of one label image on any grid, by the rule of :mod:`.masks`; and notes.

    Raises:
        InputError: an empty label. GeometryError: a label off the reference grid.
    """
    from .masks import _occupancy_from_labels

    notes: list[str] = []
    weights = _occupancy_from_labels(labels, dict(wanted), reference, Path(source), notes, False)
    return weights, notes


def segmentation_masks(
    source: str | Path | SlicerSegmentation,
    reference: sitk.Image | QuantitativeImage,
    *,
    structures: Sequence[str] | None = None,
    skip_empty: bool = False,
):
    """The segments of a ``.seg.nrrd`` on ``reference``'s grid as a :class:`~.masks.MaskSet`
    (format ``"slicer-seg"``); overlapping segments keep all their voxels.

    Raises:
        see :func:`read_segmentation` and :func:`segmentation_weights`.
    """
    from .masks import _mask_set

    seg = source if isinstance(source, SlicerSegmentation) else read_segmentation(source)
    ref = reference.image if isinstance(reference, QuantitativeImage) else reference
    notes: list[str] = []
    weights = segmentation_weights(seg, ref, notes, structures, skip_empty)
    return _mask_set(weights, ref, seg.path, notes, "slicer-seg")


# --------------------------------------------------------------------------------------------
# Volumes

#: Overrides accepted by :func:`read_volume` (sidecar keys).
OVERRIDE_KEYS = (
    "modality",
    "units",
    "nuclide",
    "radiopharmaceutical",
    "administered_activity_MBq",
    "administration_datetime",
    "acquisition_datetime",
    "acquisition_duration_s",
    "decay_correction",
    "decay_reference_datetime",
    "series_description",
    "patient_weight_kg",
    "patient_height_m",
)


def _json_value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def read_volume(
    path: str | Path,
    *,
    overrides: Mapping[str, object] | None = None,
    require_units: bool = True,
) -> QuantitativeImage:
    """Read a NRRD/NIfTI/MetaImage volume with its metadata from the sidecar and overrides.

    Args:
        path: the volume file (any direction matrix).
        overrides: sidecar keys (:data:`OVERRIDE_KEYS`) given by the caller (e.g. CLI
            options); ``None`` values are ignored; a value that differs from the sidecar's
            replaces it and is noted in ``meta.problems``.
        require_units: raise when neither the sidecar nor the overrides give the units.

    Returns:
        The image in LPS with validated metadata (``meta.problems`` lists what is unknown).

    Raises:
        FileNotFoundError: no such file.
        InputError: unreadable or not 3-D scalar (a segmentation passed as a volume).
        UnitsError: no units known (with ``require_units``).
        SidecarError: invalid sidecar or override values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such volume file")
    if is_slicer_segmentation(path):
        raise InputError(
            "this is a segmentation, not an image volume",
            path=path,
            tag="Segment0_Name",
            fix="give the PET/SPECT volume as the image and the .seg.nrrd as --structures",
        )
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(
            f"cannot read image ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="check the file is a complete NRRD/NIfTI/MetaImage",
        ) from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"image is {image.GetDimension()}-D with {image.GetNumberOfComponentsPerPixel()} "
            "component(s); a 3-D scalar volume is expected",
            path=path,
            fix="give one 3-D volume (one time point, one energy window)",
        )
    check_spacing(image.GetSpacing(), path=path, tag="space directions")
    side = sidecar_path(path)
    data: dict = {"schema": SCHEMA}
    problems: list[str] = []
    sources = [str(path)]
    if side.is_file():
        try:
            data = json.loads(side.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SidecarError(
                f"sidecar is not valid JSON ({exc})", path=side, fix="correct the JSON syntax"
            ) from exc
        if not isinstance(data, dict):
            raise SidecarError("sidecar must hold a JSON object", path=side, fix="correct it")
        sources.append(str(side))
    else:
        problems.append(f"no sidecar {side.name}: metadata only from the options given")
    for key, value in (overrides or {}).items():
        if key not in OVERRIDE_KEYS:
            raise InputError(f"unknown override {key!r}", tag=key, fix=f"use {OVERRIDE_KEYS}")
        if value is None:
            continue
        value = _json_value(value)
        if key in data and data[key] != value:
            problems.append(f"{key}: option {value!r} replaces the sidecar's {data[key]!r}")
        data[key] = value
    if "units" not in data:
        if require_units:
            raise UnitsError(
                "the voxel units are not known (NRRD/NIfTI files do not say)",
                path=path,
                tag="units",
                fix="give --units (e.g. Bq/mL for a quantitative PET, counts for a SPECT) or "
                f'write "units" in the sidecar {side.name}',
            )
        data["units"] = "1"
        problems.append("units unknown")
    meta = metadata_from_sidecar(data, path=side if side.is_file() else path, source_files=sources)
    for key, what in (
        ("nuclide", "nuclide unknown"),
        ("acquisition_datetime", "acquisition date-time unknown"),
        ("administration_datetime", "administration date-time unknown"),
    ):
        if data.get(key) is None:
            problems.append(what)
    return QuantitativeImage(image=image, meta=meta.replace(problems=tuple(problems)))


def volume_file_row(path: str | Path) -> dict:
    """The ``theranostics inspect`` row of a NRRD/NIfTI volume or Slicer segmentation file
    (the keys of :func:`theranostics.io.inspect.inspect_directory`; segmentations add
    ``structures`` and ``voxel_counts``). Problems are listed, never raised."""
    path = Path(path)
    from .inspect import empty_row  # inspect imports this module lazily

    row = empty_row(files=[str(path)], modality="OT", kind="VOLUME", series_description=path.name)
    try:
        if is_slicer_segmentation(path):
            seg = read_segmentation(path)
            counts = seg.voxel_counts()
            row.update(
                modality="SEG",
                kind="SLICER-SEG",
                size=list(seg.grid.GetSize()),
                spacing_mm=[round(s, 6) for s in seg.grid.GetSpacing()],
                structures=seg.names,
                voxel_counts=counts,
                layers=len(seg.layers),
            )
            empty = [n for n, c in counts.items() if c == 0]
            if empty:
                row["problems"].append(f"empty segment(s): {', '.join(empty)}")
            if len(seg.layers) > 1:
                row["problems"].append(
                    f"{len(seg.layers)} layers: segments of different layers may overlap"
                )
            return row
        from .inspect import QUANTIFICATION_STATE

        q = read_volume(path, require_units=False)
        meta = q.meta
        row.update(
            modality=meta.modality,
            size=list(q.size),
            spacing_mm=[round(s, 6) for s in q.spacing_mm],
            direction=[round(v, 6) for v in q.image.GetDirection()],
            nuclide=meta.administration.nuclide,
            radiopharmaceutical=meta.administration.radiopharmaceutical,
            administered_activity_MBq=meta.administration.activity_MBq,
            administration_datetime=_iso(meta.administration.datetime),
            acquisition_datetime=_iso(meta.acquisition.start),
            acquisition_duration_s=meta.acquisition.duration_s,
            units=meta.quantity.units,
            decay_correction=meta.quantity.decay_correction,
            decay_reference_datetime=_iso(meta.quantity.decay_reference),
            quantification=QUANTIFICATION_STATE.get(meta.quantity.units, meta.quantity.units),
            problems=list(meta.problems),
        )
        if "units unknown" in meta.problems:
            row["units"] = None
        if any(v < 0 for v in np.diag(np.reshape(q.image.GetDirection(), (3, 3)))):
            row["problems"].append(
                "direction matrix has negative axes (read as stored; geometry is correct)"
            )
    except (InputError, GeometryError) as exc:
        row["error"] = str(exc)
        row["problems"].append(f"not loaded: {exc}")
    return row


def _iso(value):
    return value.isoformat() if value is not None else None
