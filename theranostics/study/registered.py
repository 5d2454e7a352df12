"""All time points of a SPECT/CT study on one reference grid.

Each session's CT is registered to the reference session's CT
(:func:`theranostics.registration.register_ct`), and the session's SPECT — in the same
scanner frame as its CT — is resampled onto the reference SPECT grid through that transform
(:func:`theranostics.registration.resample_activity`). The reference session is not
registered (its transform is the identity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import SimpleITK as sitk

from ..errors import InputError
from ..image import QuantitativeImage
from ..progress import ProgressCallback, report, scaled
from ..registration import CtRegistration, register_ct
from ..registration.ct import prepare_ct
from ..registration.resample import conservation_report, resample_with_conservation
from .loading import SpectStudy


@dataclass(frozen=True)
class RegisteredStudy:
    """A study with every SPECT on the reference SPECT grid.

    Attributes:
        study: the loaded study.
        reference_index: index of the reference time point.
        reference_ct: the reference session's CT (HU).
        spect_images: the SPECTs (Bq/mL at their acquisition start) on the reference SPECT
            grid, with their metadata (one per time point).
        registrations: the CT registration of each time point (``None`` for the reference).
        conservation: per time point, total activity before/after resampling
            (:func:`theranostics.registration.resample.conservation_report`).
    """

    study: SpectStudy
    reference_index: int
    reference_ct: QuantitativeImage
    spect_images: tuple[QuantitativeImage, ...]
    registrations: tuple[CtRegistration | None, ...]
    conservation: tuple[dict, ...]

    @property
    def spect_on_reference(self) -> list[sitk.Image]:
        """The SPECT images (Bq/mL) on the reference grid, in time order."""
        return [q.image for q in self.spect_images]

    @property
    def reference_grid(self) -> sitk.Image:
        """The reference SPECT image, whose grid every SPECT is on."""
        return self.spect_images[self.reference_index].image

    @property
    def times_h(self) -> list[float | None]:
        """Time after administration (h) of each time point."""
        return self.study.times_h

    def to_json(self) -> dict:
        """Per time point: name, time, registration summary and conservation figures."""
        return {
            "reference": self.study.time_points[self.reference_index].name,
            "time_points": [
                {
                    "name": tp.name,
                    "time_h": tp.time_h,
                    "registration": reg.to_json() if reg is not None else None,
                    "conservation": cons,
                }
                for tp, reg, cons in zip(
                    self.study.time_points, self.registrations, self.conservation, strict=True
                )
            ],
        }


def register_study(
    study: SpectStudy,
    *,
    reference_index: int = 0,
    deformable: bool = False,
    transforms: Sequence[sitk.Transform | None] | None = None,
    progress: ProgressCallback | None = None,
    **registration_options,
) -> RegisteredStudy:
    """Register every time point to the reference one and resample its SPECT.

    Args:
        study: from :func:`theranostics.study.load_spect_study`.
        reference_index: the time point whose CT is the fixed image and whose SPECT grid
            is the common grid (default the first).
        deformable: add the B-spline stage to every registration.
        transforms: use these transforms instead of registering (one per time point, ITK
            convention: reference-CT point -> that session's CT point, LPS mm; ``None`` is the
            identity), e.g. transforms a user inspected and corrected in Slicer. Their
            ``registrations`` entries are then ``None``: no registration ran.
        progress: optional ``progress(fraction, message)``.
        registration_options: passed on to :func:`register_ct` (e.g. ``working_spacing_mm``;
            default here: the reference SPECT's finest voxel spacing, at least 4 mm, so a
            9.6 mm SPECT registers on a 9.6 mm CT grid).

    Raises:
        InputError: ``reference_index`` out of range, ``transforms`` of the wrong length;
            errors of :func:`register_ct`.
    """
    count = len(study.time_points)
    if transforms is not None and len(transforms) != count:
        raise InputError(
            f"{len(transforms)} transforms for {count} time points",
            tag="transforms",
            fix="give one transform (or None) per time point",
        )
    if not -count <= reference_index < count:
        raise InputError(
            f"reference_index {reference_index} is out of range for {count} time points",
            tag="reference_index",
            fix=f"choose 0..{count - 1}",
        )
    reference_index %= count
    reference = study.time_points[reference_index]
    grid = reference.spect.image
    frame = reference.spect.meta.frame_of_reference_uid
    images, registrations, conservation = [], [], []
    fixed = None  # the reference CT prepared once (working grid, body, crop) for every session
    for n, tp in enumerate(study.time_points):
        step = scaled(progress, n / count, (n + 1) / count)
        if n == reference_index:
            registrations.append(None)
            images.append(tp.spect)
            conservation.append(
                conservation_report(tp.spect, grid, sitk.Transform(3, sitk.sitkIdentity))
            )
            continue
        if transforms is not None:
            reg = None
            transform = transforms[n] or sitk.Transform(3, sitk.sitkIdentity)
        else:
            report(step, 0.0, f"registering {tp.name} to {reference.name}")
            if fixed is None:
                # the working grid follows the SPECT: no finer than its voxel (>= 4 mm), as
                # a finer CT match cannot move the activity by a useful fraction of a voxel
                registration_options.setdefault(
                    "working_spacing_mm", max(4.0, min(grid.GetSpacing()))
                )
                fixed = prepare_ct(reference.ct, argument="fixed_ct", **_prepare_options(
                    registration_options))  # fmt: skip
            reg = register_ct(
                fixed, tp.ct, deformable=deformable, progress=scaled(step, 0.0, 0.9),
                **registration_options,
            )  # fmt: skip
            transform = reg.transform
        registrations.append(reg)
        resampled, figures = resample_with_conservation(
            tp.spect, grid, transform, frame_of_reference_uid=frame
        )
        images.append(resampled)
        conservation.append(figures)
    report(progress, 1.0, "time points registered")
    return RegisteredStudy(
        study=study,
        reference_index=reference_index,
        reference_ct=reference.ct,
        spect_images=tuple(images),
        registrations=tuple(registrations),
        conservation=tuple(conservation),
    )


def _prepare_options(options: dict) -> dict:
    """The :func:`register_ct` options that :func:`prepare_ct` takes too."""
    keys = ("working_spacing_mm", "body_threshold_hu", "mask_margin_mm", "crop_margin_mm")
    return {k: options[k] for k in keys if k in options}
