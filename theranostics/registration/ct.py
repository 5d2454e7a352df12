"""CT-to-CT registration of SPECT/CT sessions with SimpleITK.

Method (details, parameters and references in ``docs/registration.md``):

1. Both CTs are reduced by whole factors to about ``working_spacing_mm`` per axis (block
   means, ``BinShrink``; never finer than the input): registration accuracy comes from
   sub-voxel interpolation of the metric, and a 4–5 mm grid is ample for a rigid match of
   whole bodies (measured in ``benchmarks/bench_registration.py``).
2. Body masks (HU > ``body_threshold_hu``, largest component, holes filled), dilated by
   ``mask_margin_mm`` so that the skin–air edge, the strongest feature, is sampled; the
   metric is restricted to them on both images. Both working images are then cropped to the
   bounding box of their dilated mask plus ``CROP_MARGIN_MM`` of air: the metric never
   samples outside the masks, and the per-level set-up (smoothing, moving-image gradient,
   sample selection) runs on the crop only (``prepare_ct``; the reference CT of a study is
   prepared once for all its sessions).
3. Rigid stage: ``Euler3DTransform`` (ComputeZYX, R = Rz Ry Rx) initialised by aligning the
   body-mask centroids (``initialisation="moments"``), the image centres (``"geometry"``)
   or not at all (``"identity"``); Mattes mutual information (Mattes et al. 2003), two
   resolution levels (shrink 2, 1; Gaussian smoothing 1, 0 voxels), regular-step
   gradient descent with parameter scales from the physical shift of the body, stopping on
   convergence (step below ``minStep``).
4. Optional deformable stage: a cubic B-spline (``BSplineTransformInitializer``, control
   points every ``bspline_grid_mm``) applied before the rigid result, mean squares of HU
   (CT to CT: one modality on a calibrated scale), L-BFGS-B, two levels (shrink 2 and 1
   of the working grid, on the body's bounding box), coefficients bounded. It is kept only
   when it raises the mutual information by more than 2 % without lowering the body Dice.

Deterministic, bit for bit across reruns: random metric sampling uses a fixed seed
(``sampling_seed``), the metric runs on one thread (``REGISTRATION_THREADS``: ITK sums the
per-thread histograms in an order that varies between runs), and the quality figures sample
every masked voxel, also on one thread.

Progress: every optimiser iteration (SimpleITK ``sitkIterationEvent``) calls ``progress``;
a :class:`~theranostics.progress.Cancelled` raised by it stops the optimiser
(``StopRegistration``) and is raised again once ``Execute`` returns.
"""

from __future__ import annotations

import functools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..image import QuantitativeImage, physical_bounds_lps
from ..progress import Cancelled, ProgressCallback, report, scaled
from .body import (
    DEFAULT_BODY_THRESHOLD_HU,
    as_ct_image,
    body_mask,
    check_bounds_overlap,
    dilate_mask,
    mask_centroid_lps,
)
from .quality import body_dice, centroid_residual_mm, mattes_mutual_information, quality_warnings
from .transforms import rigid_parameters

INITIALISATIONS = ("moments", "geometry", "identity")
#: Rigid stage levels: shrink factors of the working grid and Gaussian sigmas (voxels).
#: Two levels: on a 4.8 mm working grid a third (19 mm) level adds a per-level set-up
#: (moving-image gradient, sampling) that costs more than the iterations it saves, and the
#: body-wide initialisation (moments) already starts within a few millimetres.
RIGID_SHRINK = (2, 1)
RIGID_SMOOTHING = (1, 0)
#: Air kept around the dilated body mask when the working images are cropped (mm): more than
#: the smoothing kernel of the coarse level (2 sigma = 2 x 9.6 mm), so that the crop border
#: sees air only and the result matches the uncropped one.
CROP_MARGIN_MM = 30.0
#: Threads of the metric: one, so that reruns are bit-identical (issue 17).
REGISTRATION_THREADS = 1
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


@dataclass(frozen=True)
class PreparedCt:
    """A CT made ready for :func:`register_ct` by :func:`prepare_ct`.

    Attributes:
        working: the CT on the working grid (float32 HU), uncropped.
        body: its body mask (uint8) on the working grid.
        image, body_crop, metric_mask: the working CT, its body mask and the dilated metric
            mask, cropped to the metric mask's bounding box plus ``CROP_MARGIN_MM``.
        bounds: ``(min, max)`` corners (LPS mm) of the input CT, for the overlap check.
        settings: the preparation parameters (a prepared CT is reused only with the same).
    """

    working: sitk.Image
    body: sitk.Image
    image: sitk.Image
    body_crop: sitk.Image
    metric_mask: sitk.Image
    bounds: tuple
    settings: tuple


def _crop_box(mask: sitk.Image, margin_mm: float) -> tuple[list[int], list[int]]:
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    box = stats.GetBoundingBox(1)
    start, size = box[:3], box[3:]
    pad = [int(np.ceil(margin_mm / s)) for s in mask.GetSpacing()]
    lo = [max(0, a - p) for a, p in zip(start, pad, strict=True)]
    hi = [min(n, a + b + p) for a, b, p, n in zip(start, size, pad, mask.GetSize(), strict=True)]
    return lo, hi


def prepare_ct(
    ct: sitk.Image | QuantitativeImage,
    *,
    working_spacing_mm: float = 4.0,
    body_threshold_hu: float = DEFAULT_BODY_THRESHOLD_HU,
    mask_margin_mm: float = 8.0,
    crop_margin_mm: float | None = CROP_MARGIN_MM,
    argument: str = "ct",
) -> PreparedCt:
    """Reduce a CT to the working grid, find its body and crop it (steps 1-2 of the module
    docstring). :func:`register_ct` does this itself; :func:`theranostics.study.register_study`
    prepares the reference CT once and passes it to every registration.
    ``crop_margin_mm=None`` keeps the whole field of view.

    Raises:
        UnitsError, GeometryError: as :func:`register_ct`.
    """
    full = as_ct_image(ct, argument=argument)
    working = _working_image(full, working_spacing_mm)
    body = body_mask(working, threshold_hu=body_threshold_hu, argument=argument)
    metric = dilate_mask(body, mask_margin_mm)
    if crop_margin_mm is None:
        lo, hi = [0, 0, 0], list(metric.GetSize())
    else:
        lo, hi = _crop_box(metric, crop_margin_mm)
    crop = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    return PreparedCt(
        working=working,
        body=body,
        image=working[crop],
        body_crop=body[crop],
        metric_mask=metric[crop],
        bounds=physical_bounds_lps(full),
        settings=(
            float(working_spacing_mm), float(body_threshold_hu), float(mask_margin_mm),
            crop_margin_mm,
        ),
    )  # fmt: skip


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


def _progress_command(method, progress, start, stop, levels, label, max_iterations):
    """Report progress at every level start and every optimiser iteration; return the state
    dict whose ``"cancelled"`` holds a :class:`Cancelled` raised by ``progress``.

    SimpleITK turns an exception raised inside a command into a ``RuntimeError``, so a
    ``Cancelled`` is caught here, the optimiser stopped, and :func:`_execute` raises it again.
    """
    state: dict = {"level": 0, "iteration": 0, "cancelled": None}
    if progress is None:
        return state

    def call(fraction, message):
        if state["cancelled"] is not None:
            return
        try:
            report(progress, fraction, message)
        except Cancelled as exc:
            state["cancelled"] = exc
            method.StopRegistration()

    def on_level():
        state["level"] += 1
        state["iteration"] = 0
        call(start + (stop - start) * (state["level"] - 1) / levels,
             f"{label}: level {state['level']}/{levels}")  # fmt: skip

    def on_iteration():
        state["iteration"] += 1
        # within a level: up to the iteration cap, most levels converge well before it
        within = min(1.0, state["iteration"] / max(1, max_iterations))
        message = f"{label}: level {state['level']}/{levels}, iteration {state['iteration']}"
        call(start + (stop - start) * (state["level"] - 1 + within) / levels, message)

    method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)
    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    return state


def _execute(method, fixed, moving, state) -> None:
    """``method.Execute`` that re-raises a ``Cancelled`` caught by the progress command."""
    method.Execute(fixed, moving)
    if state["cancelled"] is not None:
        raise state["cancelled"]


_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"users": 0, "saved": None}


@contextmanager
def _threads(threads: int):
    """SimpleITK's global default thread count set to ``threads`` (0: unchanged) for the
    duration: ``ImageRegistrationMethod.SetNumberOfThreads`` alone leaves parts of the
    pipeline (the metric's sample loop, the scales estimator) on the global default, and
    reruns then differ in the last bits. Registrations running at the same time in several
    threads of one process share the setting; the last one to finish restores the value."""
    if not threads:
        yield
        return
    with _THREADS_LOCK:
        if _THREADS_STATE["users"] == 0:
            _THREADS_STATE["saved"] = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        _THREADS_STATE["users"] += 1
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["users"] -= 1
            if _THREADS_STATE["users"] == 0:
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(_THREADS_STATE["saved"])


def _with_threads(function):
    """Run ``function`` under :func:`_threads` with its ``threads`` keyword."""

    @functools.wraps(function)
    def wrapper(*args, threads: int = REGISTRATION_THREADS, **kwargs):
        with _threads(threads):
            return function(*args, threads=threads, **kwargs)

    return wrapper


def _prepared(ct, settings: tuple, argument: str) -> PreparedCt:
    if isinstance(ct, PreparedCt):
        if ct.settings != settings:
            raise ValueError(
                f"{argument} was prepared with (spacing, threshold, margin, crop) "
                f"{ct.settings}, not {settings}"
            )
        return ct
    spacing, threshold, margin, crop = settings
    return prepare_ct(
        ct,
        working_spacing_mm=spacing,
        body_threshold_hu=threshold,
        mask_margin_mm=margin,
        crop_margin_mm=crop,
        argument=argument,
    )


@_with_threads
def register_ct(
    fixed_ct: sitk.Image | QuantitativeImage | PreparedCt,
    moving_ct: sitk.Image | QuantitativeImage | PreparedCt,
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
    shrink_factors: tuple[int, ...] = RIGID_SHRINK,
    smoothing_sigmas: tuple[float, ...] = RIGID_SMOOTHING,
    crop_margin_mm: float | None = CROP_MARGIN_MM,
    threads: int = REGISTRATION_THREADS,
    progress: ProgressCallback | None = None,
) -> CtRegistration:
    """Register ``moving_ct`` to ``fixed_ct`` (rigid, optionally + B-spline).

    Args:
        fixed_ct, moving_ct: CTs in HU (``sitk.Image`` or ``QuantitativeImage`` with units
            HU), LPS geometry, or a :class:`PreparedCt` of one made with the same
            ``working_spacing_mm``, ``body_threshold_hu`` and ``mask_margin_mm``.
        deformable: add the B-spline stage.
        body_threshold_hu: body mask threshold (HU).
        working_spacing_mm: isotropic spacing (mm) the registration runs on.
        initialisation: ``"moments"`` (body centroids), ``"geometry"`` (image centres) or
            ``"identity"`` (scanner coordinates as they are).
        mask_margin_mm: dilation of the body masks used by the metric (mm).
        histogram_bins: Mattes histogram bins.
        sampling_fraction: fraction of masked voxels sampled per level (random, seeded).
        sampling_seed: the seed, for reproducible results.
        max_iterations: per level, rigid stage.
        bspline_grid_mm: B-spline control-point spacing (mm).
        bspline_iterations: per level, B-spline stage.
        bspline_max_displacement_mm: bound on every B-spline coefficient (mm); with a cubic
            B-spline (a partition of unity) it bounds the displacement too.
        shrink_factors, smoothing_sigmas: rigid-stage levels (of the working grid; sigmas in
            working voxels).
        crop_margin_mm: air kept around the dilated body masks when cropping (mm); ``None``
            registers the whole field of view.
        threads: threads of the metric; 1 (default) gives bit-identical reruns, 0 means
            SimpleITK's global default.
        progress: optional ``progress(fraction, message)``, called at every optimiser
            iteration; a ``Cancelled`` it raises stops the registration and propagates.

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
    if len(shrink_factors) != len(smoothing_sigmas) or not shrink_factors:
        raise ValueError("shrink_factors and smoothing_sigmas need one entry per level")
    settings_key = (
        float(working_spacing_mm), float(body_threshold_hu), float(mask_margin_mm),
        crop_margin_mm,
    )  # fmt: skip
    report(progress, 0.0, "preparing CTs")
    fixed_prepared = _prepared(fixed_ct, settings_key, "fixed_ct")
    report(progress, 0.02, "preparing CTs")
    moving_prepared = _prepared(moving_ct, settings_key, "moving_ct")
    check_bounds_overlap(fixed_prepared.bounds, moving_prepared.bounds)
    # the initial transform from the uncropped working images (image centres for "geometry")
    initial = _initial_rigid(
        fixed_prepared.working, moving_prepared.working, fixed_prepared.body,
        moving_prepared.body, initialisation,
    )  # fmt: skip
    fixed, moving = fixed_prepared.image, moving_prepared.image
    fixed_body, moving_body = fixed_prepared.body_crop, moving_prepared.body_crop
    fixed_metric_mask, moving_metric_mask = fixed_prepared.metric_mask, moving_prepared.metric_mask
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
    if threads:
        method.SetNumberOfThreads(threads)
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
    method.SetShrinkFactorsPerLevel(list(shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(smoothing_sigmas))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(rigid, inPlace=True)
    end_rigid = 0.7 if deformable else 0.9
    state = _progress_command(
        method, progress, 0.05, end_rigid, len(shrink_factors), "rigid registration",
        max_iterations,
    )  # fmt: skip
    _execute(method, fixed, moving, state)
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
            threads=threads, progress=scaled(progress, end_rigid, 0.9),
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
        "levels": {
            "shrink": list(shrink_factors),
            "smoothing_sigma_voxels": list(smoothing_sigmas),
        },
        "crop_margin_mm": crop_margin_mm,
        "threads": threads,
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
    max_coefficient_mm, threads,
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
    if threads:
        method.SetNumberOfThreads(threads)
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
    state = _progress_command(
        method, progress, 0.0, 1.0, len(BSPLINE_SHRINK), "B-spline registration", iterations
    )
    _execute(method, fixed, moving, state)
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
