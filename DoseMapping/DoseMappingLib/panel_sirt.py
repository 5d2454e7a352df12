"""The DoseMapping panel's "Radioembolisation (single time point)" section, as plain values.

The panel holds text fields (segment names separated by commas, ISO date-times that may be
left empty) and numbers with a "0 = none" convention; :func:`sirt_dosimetry_panel` turns
them into the keyword arguments of :func:`.sirt_dosimetry.sirt_dosimetry_from_nodes` and
calls it. Empty text means "not given": the date-times then come from the volume node's
``Theranostics.*`` attributes and the structure roles from the core's defaults.

No Qt and no parameter node: the Logic passes the fields' values.
"""

from __future__ import annotations

from datetime import datetime

from theranostics.errors import InputError

from .sirt_dosimetry import SirtDosimetryNodes, sirt_dosimetry_from_nodes


def names_from_text(text: str) -> list[str]:
    """Segment names from a comma-separated field (blanks dropped, spaces trimmed)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def datetime_from_text(text: str, field: str) -> datetime | None:
    """An ISO 8601 date-time typed in the panel (``2024-05-01T09:30`` or with a space);
    ``None`` when the field is empty. A time zone, if typed, is dropped (the core compares
    naive local date-times, as DICOM stores them).

    Raises:
        InputError: the text is not an ISO date-time (names the field).
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise InputError(
            f"{text!r} is not a date-time",
            tag=field,
            fix="type it as YYYY-MM-DDTHH:MM[:SS], or leave it empty to use the volume's",
        ) from None


def sirt_dosimetry_panel(
    volume_node,
    segmentation_node,
    *,
    method: str = "led",
    decay_corrected_to_implantation: bool = False,
    implantation_datetime_text: str = "",
    acquisition_datetime_text: str = "",
    calibration_cps_per_MBq: float = 0.0,
    tumor_names_text: str = "",
    normal_name_text: str = "",
    lung_names_text: str = "",
    density_g_per_mL: float = 1.03,
    lung_density_g_per_mL: float = 0.3,
    clip_negative: bool = False,
    dose_node=None,
    progress=None,
) -> SirtDosimetryNodes:
    """Single-time-point 90Y dosimetry from the panel's values.

    Args:
        volume_node, segmentation_node: the post-treatment PET/SPECT and the structures.
        method: ``"led"`` or ``"kernel"``.
        decay_corrected_to_implantation: the voxels are already decay-corrected to the
            implantation; the two date-times are then not used (and not passed).
        implantation_datetime_text, acquisition_datetime_text: ISO date-times; empty: the
            volume node's administration and acquisition date-times.
        calibration_cps_per_MBq: sensitivity for count images; 0: none (Bq/mL images).
        tumor_names_text, lung_names_text: comma-separated segment names; empty: none given.
        normal_name_text: the normal-tissue segment; empty: none given.
        density_g_per_mL, lung_density_g_per_mL: densities without a CT (g/mL).
        clip_negative: set negative voxels to 0 (with a note) instead of refusing them.
        dose_node: an existing volume node to overwrite with the dose (Gy).
        progress: ``progress(fraction, message)`` callback.

    Returns:
        :class:`~.sirt_dosimetry.SirtDosimetryNodes` (``.dose_node``, ``.table_node``).

    Raises:
        InputError: no volume or segmentation selected, an unreadable date-time, or any
            refusal of the core.
    """
    for node, field, label in (
        (volume_node, "sirtVolume", "post-treatment volume"),
        (segmentation_node, "sirtSegmentation", "segmentation"),
    ):
        if node is None:
            raise InputError(f"no {label} selected", tag=field, fix=f"select the {label}")
    timing = {"decay_corrected_to_implantation": bool(decay_corrected_to_implantation)}
    if not decay_corrected_to_implantation:
        timing["implantation_datetime"] = datetime_from_text(
            implantation_datetime_text, "implantation date-time"
        )
        timing["acquisition_datetime"] = datetime_from_text(
            acquisition_datetime_text, "acquisition date-time"
        )
    return sirt_dosimetry_from_nodes(
        volume_node,
        segmentation_node,
        method=method,
        calibration_cps_per_MBq=calibration_cps_per_MBq or None,
        tumors=names_from_text(tumor_names_text) or None,
        normal=(normal_name_text or "").strip() or None,
        lung=names_from_text(lung_names_text) or None,
        density_g_per_mL=float(density_g_per_mL),
        lung_density_g_per_mL=float(lung_density_g_per_mL),
        clip_negative=bool(clip_negative),
        dose_node=dose_node,
        progress=progress,
        **timing,
    )
