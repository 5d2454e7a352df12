"""Validated metadata of a quantitative image, as frozen dataclasses.

Input metadata (DICOM headers, JSON sidecars, Slicer node attributes) is validated once at the
boundary and becomes these objects; code inside the core trusts them.

Units: activity in MBq, durations in seconds, times as timezone-naive ``datetime`` in the
scanner's local time (DICOM stores no zone unless TimezoneOffsetFromUTC is given; all times of
one study share that clock, which is all that decay arithmetic needs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

#: Canonical pixel units. ``"Bq/mL"`` is activity concentration, ``"counts"`` raw
#: reconstructed counts per voxel, ``"HU"`` Hounsfield units, ``"SUVbw"`` body-weight SUV (g/mL),
#: ``"Gy"`` absorbed dose, ``"MBq*h"`` time-integrated activity per voxel, ``"1"`` unitless.
KNOWN_UNITS = ("Bq/mL", "counts", "cps", "HU", "SUVbw", "SUVlbm", "SUVbsa", "Gy", "MBq*h", "1")

#: Decay-correction states. The first three are DICOM DecayCorrection (0054,1102) values: to
#: the series/acquisition start, to the administration time, not decay corrected. ``"REF"``
#: (ours) means corrected to a user-chosen time held in ``QuantityInfo.decay_reference``.
DECAY_CORRECTION_VALUES = ("START", "ADMIN", "NONE", "REF")


@dataclass(frozen=True)
class PatientInfo:
    """Patient body measures used for SUV normalisation.

    Attributes:
        weight_kg: body weight in kg (PatientWeight (0010,1030)).
        height_m: body height in m (PatientSize (0010,1020)).
        sex: ``"F"``, ``"M"`` or ``None`` when unknown/other (PatientSex (0010,0040)).
    """

    weight_kg: float | None = None
    height_m: float | None = None
    sex: str | None = None


@dataclass(frozen=True)
class Administration:
    """The radiopharmaceutical administration an image refers to.

    Attributes:
        nuclide: nuclide key such as ``"Lu-177"`` or ``"Tc-99m"`` (see
            :func:`theranostics.nuclides.normalise_nuclide_name`).
        radiopharmaceutical: free text such as ``"MAA"`` or ``"PSMA-617"``.
        activity_MBq: administered activity in MBq at ``datetime``.
        datetime: administration (injection) start.
        activity_rule: which rule decided the unit of RadionuclideTotalDose (Bq or MBq), so a
            user can check and override it.
        half_life_s: physical half-life in seconds as stated by the source (the header's
            RadionuclideHalfLife), or ``None``; the nuclide table is used when absent.
    """

    nuclide: str | None = None
    radiopharmaceutical: str | None = None
    activity_MBq: float | None = None
    datetime: datetime | None = None
    activity_rule: str = ""
    half_life_s: float | None = None


@dataclass(frozen=True)
class AcquisitionInfo:
    """When and how long the image was acquired.

    Attributes:
        start: acquisition start.
        duration_s: acquisition duration in seconds (whole scan for SPECT, frame for PET).
        start_source: the tag (or rule) that gave ``start``.
        duration_source: the tag (or rule) that gave ``duration_s``.
    """

    start: datetime | None = None
    duration_s: float | None = None
    start_source: str = ""
    duration_source: str = ""


@dataclass(frozen=True)
class QuantityInfo:
    """What the pixel values mean.

    Attributes:
        units: one of :data:`KNOWN_UNITS`.
        decay_correction: one of :data:`DECAY_CORRECTION_VALUES`.
        decay_reference: the time the values are decay-corrected to (``None`` when
            ``decay_correction == "NONE"``).
        decay_factor: DecayFactor (0054,1321) as stored, if any.
        units_source: the tag (or rule) that gave ``units``.
    """

    units: str = "1"
    decay_correction: str = "NONE"
    decay_reference: datetime | None = None
    decay_factor: float | None = None
    units_source: str = ""

    @property
    def is_activity_concentration(self) -> bool:
        """True when pixel values are absolute activity concentration (Bq/mL)."""
        return self.units == "Bq/mL"


@dataclass(frozen=True)
class ImageMetadata:
    """Everything the core knows about one image besides its voxels and geometry.

    Attributes:
        modality: DICOM modality (``"CT"``, ``"NM"``, ``"PT"``) or ``"OT"`` for other sources.
        series_instance_uid: SeriesInstanceUID, when the image came from DICOM.
        series_description: free text.
        frame_of_reference_uid: FrameOfReferenceUID: images sharing it share a patient
            coordinate system.
        manufacturer: Manufacturer (0008,0070), used for vendor fallbacks.
        patient, administration, acquisition, quantity: see their classes.
        source_files: the files the image was read from.
        problems: non-fatal findings worth showing to a user (e.g. which fallback fired).
    """

    modality: str = "OT"
    series_instance_uid: str | None = None
    series_description: str = ""
    frame_of_reference_uid: str | None = None
    manufacturer: str = ""
    patient: PatientInfo = field(default_factory=PatientInfo)
    administration: Administration = field(default_factory=Administration)
    acquisition: AcquisitionInfo = field(default_factory=AcquisitionInfo)
    quantity: QuantityInfo = field(default_factory=QuantityInfo)
    source_files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def replace(self, **changes) -> ImageMetadata:
        """A copy with some fields changed (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)
