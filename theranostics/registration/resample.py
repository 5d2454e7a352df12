"""Bring an activity-concentration image onto a reference grid through a registration.

SPECT and CT of one session share the scanner frame, so the transform found for the
session's CT (reference CT → session CT, ITK convention) also maps reference points to the
session's SPECT. The concentration (Bq/mL) is interpolated linearly at the mapped reference
voxel centres: an intensive quantity, so no Jacobian factor is needed for a rigid transform
(a B-spline changes local volumes by a few per cent at most; the conservation figure below
shows it).

Conservation figure: total activity A = Σ C_i · V_voxel before and after. The activity of the
source that the reference grid cannot hold (it maps outside the reference field of view) is
reported on its own, so that a cut-off is not mistaken for an interpolation loss.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, UnitsError
from ..image import QuantitativeImage

#: A resampled total differing by more than this fraction from the covered source activity
#: gets a note (linear interpolation of a smooth SPECT conserves totals to well under 1 %).
CONSERVATION_TOLERANCE = 0.01
#: Source activity outside the reference grid above this fraction gets a note.
CUTOFF_TOLERANCE = 0.001


def _linear_inverse(transform: sitk.Transform) -> sitk.Transform:
    """The inverse of the linear (rigid) part of ``transform``: exact for a rigid transform,
    the rigid part's inverse for a composite ``rigid ∘ bspline`` (enough to decide which
    source voxels fall inside the reference field of view)."""
    if isinstance(transform, sitk.CompositeTransform) or (
        transform.GetName() == "CompositeTransform"
    ):
        composite = sitk.CompositeTransform(transform)
        transform = composite.GetNthTransform(0)
    return transform.GetInverse()


def conservation_report(
    spect: QuantitativeImage, resampled: sitk.Image, transform: sitk.Transform
) -> dict:
    """Total activities (MBq) before and after resampling, and the part cut off.

    Returns:
        ``activity_source_MBq`` (whole source image), ``activity_covered_MBq`` (the part of
        the source that maps inside the reference grid), ``activity_resampled_MBq``,
        ``cut_off_fraction`` (1 − covered / source) and ``conservation_ratio``
        (resampled / covered; 1 is perfect).
    """
    source = sitk.GetArrayViewFromImage(spect.image).astype(np.float64)
    source_total = float(source.sum()) * spect.voxel_volume_mL / 1e6
    ones = sitk.Image(resampled.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(resampled)
    covered = sitk.Resample(
        ones, spect.image, _linear_inverse(transform), sitk.sitkNearestNeighbor, 0
    )
    covered_total = (
        float((source * sitk.GetArrayViewFromImage(covered)).sum()) * spect.voxel_volume_mL / 1e6
    )
    voxel_mL = float(np.prod(resampled.GetSpacing())) / 1000.0
    after = float(sitk.GetArrayViewFromImage(resampled).astype(np.float64).sum()) * voxel_mL / 1e6
    return {
        "activity_source_MBq": source_total,
        "activity_covered_MBq": covered_total,
        "activity_resampled_MBq": after,
        "cut_off_fraction": 1.0 - covered_total / source_total if source_total > 0 else 0.0,
        "conservation_ratio": after / covered_total if covered_total > 0 else float("nan"),
    }


def resample_activity(
    spect: QuantitativeImage,
    reference: sitk.Image,
    transform: sitk.Transform,
    *,
    frame_of_reference_uid: str | None = None,
) -> QuantitativeImage:
    """``spect`` (Bq/mL) resampled onto the ``reference`` grid.

    Args:
        spect: activity concentration in Bq/mL, in its session's scanner frame.
        reference: the grid to resample onto (origin, spacing, direction, size; its voxels
            are not used).
        transform: ITK convention, maps reference points to the session's points (the
            session CT's registration transform, :attr:`CtRegistration.transform`).
        frame_of_reference_uid: the reference frame's UID, written to the metadata.

    Returns:
        A float32 image on the reference grid (0 Bq/mL outside the source field of view),
        with the source metadata (time, nuclide, units, decay state) and a note in
        ``meta.problems`` giving the conservation figure (see :func:`conservation_report`).

    Raises:
        UnitsError: ``spect`` is not in Bq/mL; GeometryError: the grids share no voxel.
    """
    return resample_with_conservation(
        spect, reference, transform, frame_of_reference_uid=frame_of_reference_uid
    )[0]


def resample_with_conservation(
    spect: QuantitativeImage,
    reference: sitk.Image,
    transform: sitk.Transform,
    *,
    frame_of_reference_uid: str | None = None,
) -> tuple[QuantitativeImage, dict]:
    """:func:`resample_activity` and the :func:`conservation_report` figures it computed
    (for callers that keep both, without resampling the coverage mask twice)."""
    path = spect.meta.source_files[0] if spect.meta.source_files else None
    if spect.meta.quantity.units != "Bq/mL":
        raise UnitsError(
            f"resample_activity needs an activity concentration in Bq/mL, not "
            f"{spect.meta.quantity.units!r}",
            path=path,
            tag="meta.quantity.units",
            fix="convert counts first (theranostics.quant.spect.counts_to_activity_concentration)",
        )
    resampled = sitk.Resample(
        sitk.Cast(spect.image, sitk.sitkFloat32), reference, transform, sitk.sitkLinear, 0.0,
        sitk.sitkFloat32,
    )  # fmt: skip
    figures = conservation_report(spect, resampled, transform)
    if figures["activity_source_MBq"] > 0 and figures["activity_covered_MBq"] <= 0:
        raise GeometryError(
            "the SPECT maps entirely outside the reference grid",
            path=path,
            tag="reference",
            fix="check the transform (fixed = reference, moving = this session's CT)",
        )
    notes = [
        "resampled onto the reference grid (linear): total activity "
        f"{figures['activity_covered_MBq']:.4g} MBq covered -> "
        f"{figures['activity_resampled_MBq']:.4g} MBq resampled "
        f"(ratio {figures['conservation_ratio']:.4f})"
    ]
    if figures["cut_off_fraction"] > CUTOFF_TOLERANCE:
        notes.append(
            f"the reference grid cuts off {figures['cut_off_fraction']:.2%} of the activity "
            f"({figures['activity_source_MBq'] - figures['activity_covered_MBq']:.4g} MBq "
            "lies outside its field of view)"
        )
    if abs(figures["conservation_ratio"] - 1.0) > CONSERVATION_TOLERANCE:
        notes.append(
            "resampling changed the covered total activity by "
            f"{figures['conservation_ratio'] - 1.0:+.2%} (more than "
            f"{CONSERVATION_TOLERANCE:.0%}): check the transform and grids"
        )
    changes = {"problems": (*spect.meta.problems, *notes)}
    if frame_of_reference_uid is not None:
        changes["frame_of_reference_uid"] = frame_of_reference_uid
    return QuantitativeImage(resampled, spect.meta.replace(**changes)), figures
