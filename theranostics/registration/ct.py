"""CT-to-CT registration of SPECT/CT sessions with SimpleITK.

Method (details, parameters and references in ``docs/registration.md``):

1. Both CTs are reduced by whole factors to about ``working_spacing_mm`` per axis (block
   means, ``BinShrink``; never finer than the input): registration accuracy comes from
   sub-voxel interpolation of the metric, and a 4–5 mm grid is ample for a rigid match of
   whole bodies (measured in ``benchmarks/bench_registration.py``).
2. Body masks (HU > ``body_threshold_hu``, largest component, holes filled), dilated by
   ``mask_margin_mm`` so that the skin–air edge, the strongest feature, is sampled; the
   metric is restricted to them on both images.
3. Rigid stage: ``Euler3DTransform`` (ComputeZYX, R = Rz Ry Rx) initialised by aligning the
   body-mask centroids (``initialisation="moments"``), the image centres (``"geometry"``)
   or not at all (``"identity"``); Mattes mutual information (Mattes et al. 2003), three
   resolution levels (shrink 4, 2, 1; Gaussian smoothing 2, 1, 0 voxels), regular-step
   gradient descent with parameter scales from the physical shift of the body.
4. Optional deformable stage: a cubic B-spline (``BSplineTransformInitializer``, control
   points every ``bspline_grid_mm``) applied before the rigid result, mean squares of HU
   (CT to CT: one modality on a calibrated scale), L-BFGS-B, two levels (shrink 2 and 1
   of the working grid, on the body's bounding box), coefficients bounded. It is kept only
   when it raises the mutual information by more than 2 % without lowering the body Dice.

Deterministic: random metric sampling uses a fixed seed (``sampling_seed``), and the quality
figures sample every masked voxel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..image import QuantitativeImage
from ..progress import ProgressCallback, report, scaled
from .body import (
    DEFAULT_BODY_THRESHOLD_HU,
    as_ct_image,
    body_mask,
    check_boxes_overlap,
    dilate_mask,
    mask_centroid_lps,
)
from .quality import body_dice, centroid_residual_mm, mattes_mutual_information, quality_warnings
from .transforms import rigid_parameters

INITIALISATIONS = ("moments", "geometry", "identity")
#: B-spline stage levels: shrink factors of the working grid and Gaussian sigmas (voxels).
BSPLINE_SHRINK = (2, 1)
BSPLINE_SMOOTHING = (1, 0)
#: Fraction of masked voxels sampled per B-spline level: many samples per parameter (every
#: voxel at the coarse level) so the unregularised B-spline cannot fit noise; the cost of an
#: iteration grows with samples x parameters.
BSPLINE_SAMPLING = (0.2, 0.05)
#: The B-spline stage is kept only when it raises the mutual information by this fraction:
#: an unregularised B-spline gains up to ~1 % by chasing voxelised edges (measured on the
#: synthetic study, whose true motion is rigid), which is no evidence of a real deformation.
BSPLINE_MIN_GAIN = 0.02


@dataclass(frozen=True)
class CtRegistration:
    """The result of :func:`register_ct`.

    Attributes:
        transform: the full transform, ITK convention: maps a point of the FIXED image's
            physical space (LPS, mm) to the MOVING image's (what ``sitk.Resample(moving,
            fixed, transform)`` wants). The rigid transform, or a composite
            ``rigid(bspline(x))`` when the deformable stage was kept.
        rigid: the rigid part (``Euler3DTransform``, ComputeZYX on).
        bspline: the deformable part (``BSplineTransform`` on the fixed grid), or ``None``.
        quality: figures of :mod:`theranostics.registration.quality` (MI, Dice, centroid).
        warnings: plain-language warnings when the figures look wrong.
        settings: the parameters the registration ran with.
        timing_s: wall time per stage (s).
        stop_conditions: the optimisers' stop conditions, per stage.
    """

    transform: sitk.Transform
    rigid: sitk.Euler3DTransform
    bspline: sitk.Transform | None
    quality: dict
    warnings: list[str]
    settings: dict = field(default_factory=dict)
    timing_s: dict = field(default_factory=dict)
    stop_conditions: dict = field(default_factory=dict)
    bspline_summary: dict | None = None

    @property
    def parameters(self) -> dict:
        """Rigid parameters (angles in degrees, translation and centre in mm)."""
        return rigid_parameters(self.rigid)

    def to_json(self) -> dict:
        """A JSON-ready summary: convention, parameters, quality, warnings, timing."""
        return {
            "convention": "ITK: maps fixed-image points to moving-image points (LPS, mm); "
            "rigid x -> R (x - centre) + centre + translation, R = Rz Ry Rx",
            "rigid": self.parameters,
            "bspline": self.bspline_summary,
            "quality": dict(self.quality),
            "warnings": list(self.warnings),
            "settings": dict(self.settings),
            "timing_s": dict(self.timing_s),
            "stop_conditions": dict(self.stop_conditions),
        }


def _working_image(ct: sitk.Image, spacing_mm: float) -> sitk.Image:
    """``ct`` reduced by whole factors to about ``spacing_mm`` per axis (never finer than the
    input): each working voxel is the mean of a block of input voxels (``BinShrink``), which
    smooths against aliasing and keeps the physical extent."""
    factors = [max(1, round(spacing_mm / s)) for s in ct.GetSpacing()]
    if all(f == 1 for f in factors):
        return ct
    return sitk.BinShrink(ct, factors)


def _initial_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_body: sitk.Image,
    moving_body: sitk.Image,
    initialisation: str,
) -> sitk.Euler3DTransform:
    rigid = sitk.Euler3DTransform()
    rigid.SetComputeZYX(True)
    if initialisation == "identity":
        rigid.SetCenter(tuple(mask_centroid_lps(fixed_body)))
        return rigid
    if initialisation == "moments":
        # Moments of the body masks, not of the HU values (negative HU would skew them).
        init = sitk.CenteredTransformInitializer(
            sitk.Cast(fixed_body, sitk.sitkFloat32),
            sitk.Cast(moving_body, sitk.sitkFloat32),
            rigid,
            sitk.CenteredTransformInitializerFilter.MOMENTS,
        )
    else:
        init = sitk.CenteredTransformInitializer(
            fixed, moving, rigid, sitk.CenteredTransformInitializerFilter.GEOMETRY
        )
    result = sitk.Euler3DTransform(init)
    result.SetComputeZYX(True)
    return result


def _progress_command(method, progress, start, stop, levels, label):
    state = {"level": 0}

    def on_level():
        state["level"] += 1
        report(progress, start + (stop - start) * (state["level"] - 1) / levels,
               f"{label}: level {state['level']}/{levels}")  # fmt: skip

    if progress is not None:
        method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)


def register_ct(
    fixed_ct: sitk.Image | QuantitativeImage,
    moving_ct: sitk.Image | QuantitativeImage,
    *,
    deformable: bool = False,
    body_threshold_hu: float = DEFAULT_BODY_THRESHOLD_HU,
    working_spacing_mm: float = 4.0,
    initialisation: str = "moments",
    mask_margin_mm: float = 8.0,
    histogram_bins: int = 50,
    sampling_fraction: float = 0.25,
    sampling_seed: int = 20240312,
    max_iterations: int = 300,
    bspline_grid_mm: float = 50.0,
    bspline_iterations: int = 50,
    bspline_max_displacement_mm: float = 20.0,
    progress: ProgressCallback | None = None,
) -> CtRegistration:
    """Register ``moving_ct`` to ``fixed_ct`` (rigid, optionally + B-spline).

    Args:
        fixed_ct, moving_ct: CTs in HU (``sitk.Image`` or ``QuantitativeImage`` with units
            HU), LPS geometry.
        deformable: add the B-spline stage.
        body_threshold_hu: body mask threshold (HU).
        working_spacing_mm: isotropic spacing (mm) the registration runs on.
        initialisation: ``"moments"`` (body centroids), ``"geometry"`` (image centres) or
            ``"identity"`` (scanner coordinates as they are).
        mask_margin_mm: dilation of the body masks used by the metric (mm).
        histogram_bins: Mattes histogram bins.
        sampling_fraction: fraction of masked voxels sampled per iteration (random, seeded).
        sampling_seed: the seed, for reproducible results.
        max_iterations: per level, rigid stage.
        bspline_grid_mm: B-spline control-point spacing (mm).
        bspline_iterations: per level, B-spline stage.
        bspline_max_displacement_mm: bound on every B-spline coefficient (mm); with a cubic
            B-spline (a partition of unity) it bounds the displacement too.
        progress: optional ``progress(fraction, message)``.

    Returns:
        :class:`CtRegistration` (ITK convention: transform maps fixed points to moving points).

    Raises:
        UnitsError: an image that is not a CT in HU; GeometryError: not 3D, empty body mask,
        images that do not overlap; ValueError: an unknown ``initialisation``.
    """
    if initialisation not in INITIALISATIONS:
        raise ValueError(f"initialisation must be one of {INITIALISATIONS}, not {initialisation!r}")
    timing: dict[str, float] = {}
    started = time.perf_counter()
    fixed_full = as_ct_image(fixed_ct, argument="fixed_ct")
    moving_full = as_ct_image(moving_ct, argument="moving_ct")
    check_boxes_overlap(fixed_full, moving_full)
    report(progress, 0.0, "preparing CTs")
    fixed = _working_image(fixed_full, working_spacing_mm)
    moving = _working_image(moving_full, working_spacing_mm)
    fixed_body = body_mask(fixed, threshold_hu=body_threshold_hu, argument="fixed_ct")
    moving_body = body_mask(moving, threshold_hu=body_threshold_hu, argument="moving_ct")
    fixed_metric_mask = dilate_mask(fixed_body, mask_margin_mm)
    moving_metric_mask = dilate_mask(moving_body, mask_margin_mm)
    initial = _initial_rigid(fixed, moving, fixed_body, moving_body, initialisation)
    if body_dice(fixed_body, moving_body, initial) == 0.0:
        from ..errors import GeometryError

        raise GeometryError(
            "the bodies in the fixed and moving CTs do not overlap after initialisation "
            f"({initialisation})",
            tag="initialisation",
            fix="check that both CTs show the same body region; try initialisation='moments'",
        )
    timing["prepare"] = time.perf_counter() - started

    rigid = sitk.Euler3DTransform(initial)
    rigid.SetComputeZYX(True)
    stage_start = time.perf_counter()
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(sampling_fraction, sampling_seed)
    method.SetMetricFixedMask(fixed_metric_mask)
    method.SetMetricMovingMask(moving_metric_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=max_iterations,
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-6,
    )  # fmt: skip
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(rigid, inPlace=True)
    end_rigid = 0.7 if deformable else 0.9
    _progress_command(method, progress, 0.05, end_rigid, 3, "rigid registration")
    method.Execute(fixed, moving)
    stops = {"rigid": method.GetOptimizerStopConditionDescription()}
    timing["rigid"] = time.perf_counter() - stage_start

    identity = sitk.Euler3DTransform()
    mi_before = mattes_mutual_information(
        fixed, moving, identity, fixed_mask=fixed_metric_mask, bins=histogram_bins
    )
    mi_rigid = mattes_mutual_information(
        fixed, moving, rigid, fixed_mask=fixed_metric_mask, bins=histogram_bins
    )
    dice_rigid = body_dice(fixed_body, moving_body, rigid)
    transform: sitk.Transform = rigid
    bspline = None
    bspline_summary = None
    warnings: list[str] = []
    if deformable:
        stage_start = time.perf_counter()
        candidate, stops["bspline"] = _bspline_stage(
            fixed, moving, fixed_metric_mask, moving_metric_mask, rigid,
            grid_mm=bspline_grid_mm, iterations=bspline_iterations,
            seed=sampling_seed, max_coefficient_mm=bspline_max_displacement_mm,
            progress=scaled(progress, end_rigid, 0.9),
        )  # fmt: skip
        composite = sitk.CompositeTransform([rigid, candidate])
        mi_bspline = mattes_mutual_information(
            fixed, moving, composite, fixed_mask=fixed_metric_mask, bins=histogram_bins
        )
        dice_bspline = body_dice(fixed_body, moving_body, composite)
        bspline_summary = _bspline_summary(candidate, fixed_body, bspline_grid_mm)
        bspline_summary.update(
            mutual_information_after=mi_bspline, body_dice_after=dice_bspline, kept=False
        )
        if mi_bspline > mi_rigid * (1.0 + BSPLINE_MIN_GAIN) and dice_bspline >= dice_rigid - 1e-3:
            transform, bspline = composite, candidate
            bspline_summary["kept"] = True
        else:
            warnings.append(
                f"the B-spline stage did not improve on the rigid result by more than "
                f"{BSPLINE_MIN_GAIN:.0%} (mutual information "
                f"{mi_rigid:.4f} -> {mi_bspline:.4f}, body Dice {dice_rigid:.3f} -> "
                f"{dice_bspline:.3f}); the rigid transform is used"
            )
        timing["bspline"] = time.perf_counter() - stage_start

    report(progress, 0.9, "quality figures")
    fixed_centroid = mask_centroid_lps(fixed_body)
    moving_centroid = mask_centroid_lps(moving_body)
    quality = {
        "mutual_information_before": mi_before,
        "mutual_information_after": mi_rigid if bspline is None else mi_bspline,
        "mutual_information_rigid": mi_rigid,
        "body_dice_before": body_dice(fixed_body, moving_body, identity),
        "body_dice_after": dice_rigid if bspline is None else dice_bspline,
        "body_centroid_residual_before_mm": centroid_residual_mm(
            fixed_centroid, moving_centroid, identity
        ),
        "body_centroid_residual_after_mm": centroid_residual_mm(
            fixed_centroid, moving_centroid, transform
        ),
    }
    parameters = rigid_parameters(rigid)
    warnings = quality_warnings(quality, parameters, list(stops.items())) + warnings
    timing["total"] = time.perf_counter() - started
    settings = {
        "working_spacing_mm": list(fixed.GetSpacing()),
        "body_threshold_hu": body_threshold_hu,
        "initialisation": initialisation,
        "mask_margin_mm": mask_margin_mm,
        "metric": f"Mattes mutual information, {histogram_bins} bins",
        "sampling": f"random {sampling_fraction:.0%} of masked voxels, seed {sampling_seed}",
        "levels": {"shrink": [4, 2, 1], "smoothing_sigma_voxels": [2, 1, 0]},
        "optimizer": f"regular step gradient descent, <= {max_iterations} iterations per level",
        "deformable": deformable,
    }
    if deformable:
        settings["bspline"] = {"grid_mm": bspline_grid_mm, "iterations": bspline_iterations,
                               "max_coefficient_mm": bspline_max_displacement_mm,
                               "min_relative_mi_gain": BSPLINE_MIN_GAIN,
                               "sampling": list(BSPLINE_SAMPLING),
                               "optimizer": "L-BFGS-B",
                               "metric": "mean squares (HU)",
                               "shrink": list(BSPLINE_SHRINK),
                               "smoothing_sigma_voxels": list(BSPLINE_SMOOTHING)}  # fmt: skip
    report(progress, 1.0, "registration done")
    return CtRegistration(
        transform=transform,
        rigid=rigid,
        bspline=bspline,
        quality=quality,
        warnings=warnings,
        settings=settings,
        timing_s={k: round(v, 3) for k, v in timing.items()},
        stop_conditions=stops,
        bspline_summary=bspline_summary,
    )


def _bspline_stage(
    fixed, moving, fixed_mask, moving_mask, rigid, *, grid_mm, iterations, seed, progress,
    max_coefficient_mm,
):  # fmt: skip
    """Optimise a B-spline applied before ``rigid`` (x -> rigid(bspline(x))).

    The B-spline lives on the bounding box of the fixed body, not on the whole field of view:
    the cost of a metric derivative grows with (samples x parameters) because ITK fills a
    dense Jacobian per sample, and control points in air carry no information anyway.
    """
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(fixed_mask)
    x0, y0, z0, nx, ny, nz = stats.GetBoundingBox(1)
    fixed = fixed[x0 : x0 + nx, y0 : y0 + ny, z0 : z0 + nz]
    fixed_mask = fixed_mask[x0 : x0 + nx, y0 : y0 + ny, z0 : z0 + nz]
    extent = np.array(fixed.GetSize()) * np.array(fixed.GetSpacing())
    mesh = [max(1, round(e / grid_mm)) for e in extent]
    bspline = sitk.BSplineTransformInitializer(fixed, mesh, 3)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(list(BSPLINE_SAMPLING), seed)
    method.SetMetricFixedMask(fixed_mask)
    # No moving mask here: with one, the optimiser lowers the mean by pushing badly matching
    # samples out of the moving mask, where they stop counting.
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsLBFGSB(
        gradientConvergenceTolerance=1e-5, numberOfIterations=iterations,
        maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=4 * iterations,
        costFunctionConvergenceFactor=1e7, lowerBound=-max_coefficient_mm,
        upperBound=max_coefficient_mm,
    )  # fmt: skip
    # The cost of an iteration grows with samples x parameters (ITK fills a dense Jacobian
    # per sample): few samples at the working resolution, more at the coarse level.
    method.SetShrinkFactorsPerLevel(list(BSPLINE_SHRINK))
    method.SetSmoothingSigmasPerLevel(list(BSPLINE_SMOOTHING))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetMovingInitialTransform(rigid)
    method.SetInitialTransform(bspline, inPlace=True)
    _progress_command(method, progress, 0.0, 1.0, 2, "B-spline registration")
    method.Execute(fixed, moving)
    return bspline, method.GetOptimizerStopConditionDescription()


def _bspline_summary(bspline: sitk.Transform, fixed_body: sitk.Image, grid_mm: float) -> dict:
    """Size of the deformation: displacement magnitude (mm) over the fixed body."""
    field_image = sitk.TransformToDisplacementField(
        bspline, sitk.sitkVectorFloat64, fixed_body.GetSize(), fixed_body.GetOrigin(),
        fixed_body.GetSpacing(), fixed_body.GetDirection(),
    )  # fmt: skip
    magnitude = np.linalg.norm(sitk.GetArrayViewFromImage(field_image), axis=-1)
    inside = sitk.GetArrayViewFromImage(fixed_body) > 0
    values = magnitude[inside]
    return {
        "grid_spacing_mm": grid_mm,
        "number_of_parameters": len(bspline.GetParameters()),
        "max_displacement_mm": float(values.max()) if values.size else 0.0,
        "mean_displacement_mm": float(values.mean()) if values.size else 0.0,
    }
