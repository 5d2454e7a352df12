"""Predicted versus delivered radioembolisation dose: the MAA-predicted dose map of
``plan-sirt`` against the 90Y dose map of ``sirt-dosimetry`` of the same patient.

The comparison is the one of the 177Lu verification (:mod:`theranostics.verify`): per-structure
mean doses with :func:`~theranostics.verify.compare.compare_structures`, DVHs with
:func:`~theranostics.verify.compare.compare_dvhs`, the gamma index with
:func:`~theranostics.verify.gamma.gamma_index` (predicted map as reference, global 3 %/3 mm,
10 % cutoff by default) and the flags of :func:`~theranostics.verify.compare.tolerance_table`.
Sign convention: delivered − predicted, relative to predicted.

Registration. The MAA SPECT and the 90Y PET are separate acquisitions days apart, so the
predicted map is first brought onto the delivered grid: ``register="none"`` when both are
already in one patient frame (e.g. registered in Slicer and resampled), a given
``transform`` (an ITK/Slicer transform file mapping delivered-grid points to predicted-grid
points, LPS), or ``register="rigid"``: a rigid (Euler 3-D) registration of the predicted dose
map to the delivered one by Mattes mutual information (SimpleITK), initialised at the centres
of dose mass. Both dose maps are absorbed-dose images of the same spheres, so their shapes
match where the MAA predicted the spheres well; a poor prediction also makes a poorer
registration, which the reported final metric shows. The structures are those of the
delivered image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..progress import ProgressCallback, report

REGISTRATION_MODES = ("none", "rigid")


@dataclass(frozen=True)
class SirtComparison:
    """Outcome of :func:`compare_predicted_delivered`.

    Attributes:
        structures: :class:`~theranostics.verify.compare.StructureComparison`.
        dvhs: name -> :func:`~theranostics.verify.compare.compare_dvhs` dict.
        gamma: :class:`~theranostics.verify.gamma.GammaResult`.
        tolerance_table: :class:`~theranostics.verify.compare.ToleranceTable`.
        registration: mode, transform parameters, final metric, description.
        predicted_on_delivered: the predicted dose resampled onto the delivered grid (Gy).
        difference_Gy: delivered − predicted on the delivered grid.
        planned_dvhs: name -> DVH of the predicted map (same weights and density).
    """

    structures: object
    dvhs: dict
    gamma: object
    tolerance_table: object
    registration: dict
    predicted_on_delivered: sitk.Image
    difference_Gy: sitk.Image
    planned_dvhs: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """JSON-ready summary (no voxel data)."""
        return {
            "structures": self.structures.to_json(),
            "dvhs": self.dvhs,
            "gamma": self.gamma.to_json(),
            "tolerance_table": self.tolerance_table.to_json(),
            "registration": dict(self.registration),
            "sign": "delivered - predicted; relative to predicted",
        }


def register_rigid(fixed: sitk.Image, moving: sitk.Image) -> tuple[sitk.Transform, dict]:
    """Rigid transform mapping ``fixed`` (delivered) points to ``moving`` (predicted) points by
    Mattes mutual information, initialised at the centres of mass (module docstring)."""
    f = sitk.Cast(fixed, sitk.sitkFloat32)
    m = sitk.Cast(moving, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(
        f, m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(0.25, seed=1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=200, relaxationFactor=0.5
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    method.SetNumberOfThreads(1)  # deterministic result
    transform = method.Execute(f, m)
    if isinstance(transform, sitk.CompositeTransform):
        transform = transform.GetBackTransform() if transform.GetNumberOfTransforms() else transform
    euler = sitk.Euler3DTransform(transform)
    info = {
        "mode": "rigid",
        "metric": "Mattes mutual information",
        "final_metric": float(method.GetMetricValue()),
        "translation_mm": [float(v) for v in euler.GetTranslation()],
        "rotation_deg": [
            math.degrees(a) for a in (euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ())
        ],
        "center_mm": [float(v) for v in euler.GetCenter()],
        "stop": method.GetOptimizerStopConditionDescription(),
    }
    info["description"] = (
        "predicted dose map registered rigidly to the delivered one (Mattes MI): translation "
        + ", ".join(f"{v:.1f}" for v in info["translation_mm"])
        + " mm, rotation "
        + ", ".join(f"{v:.1f}" for v in info["rotation_deg"])
        + " deg"
    )
    return euler, info


def compare_predicted_delivered(
    predicted_Gy: sitk.Image,
    delivered,
    *,
    register: str = "none",
    transform: sitk.Transform | str | Path | None = None,
    dose_percent: float = 3.0,
    dta_mm: float = 3.0,
    cutoff_percent: float = 10.0,
    progress: ProgressCallback | None = None,
) -> SirtComparison:
    """Compare a predicted dose map with a :class:`~.sirt_dosimetry.SirtDosimetryResult`.

    Args:
        predicted_Gy: predicted dose (Gy), any grid in LPS.
        delivered: the result of :func:`~.sirt_dosimetry.sirt_dosimetry` (dose, masks,
            per-structure densities and DVHs).
        register: ``"none"`` or ``"rigid"`` (ignored when ``transform`` is given).
        transform: a SimpleITK transform or transform file (delivered -> predicted points).
        dose_percent, dta_mm, cutoff_percent: gamma criteria (global).
        progress: callback.

    Raises:
        InputError: unknown registration mode, unreadable transform file.
        GeometryError: the maps do not overlap.
    """
    from ..dose.dvh import dvh_from_samples
    from ..verify.compare import compare_dvhs, compare_structures, tolerance_table
    from ..verify.gamma import gamma_index
    from .sirt_dosimetry import D_PERCENTS

    if register not in REGISTRATION_MODES:
        raise InputError(
            f"unknown registration {register!r}", tag="--register", fix="use none or rigid"
        )
    dose = delivered.dose.image
    report(progress, 0.0, "registration")
    if transform is not None:
        if not isinstance(transform, sitk.Transform):
            try:
                transform = sitk.ReadTransform(str(transform))
            except RuntimeError as exc:
                raise InputError(
                    f"cannot read the transform ({exc})",
                    path=transform,
                    fix="give an ITK transform file (.tfm, .h5) as saved by Slicer",
                ) from None
        info = {
            "mode": "transform",
            "description": "predicted map resampled with the given transform",
        }
    elif register == "rigid":
        transform, info = register_rigid(dose, predicted_Gy)
    else:
        transform = sitk.Transform()
        info = {
            "mode": "none",
            "description": "no registration: both maps taken to be in one patient frame",
        }
    on_grid = sitk.Resample(
        sitk.Cast(predicted_Gy, sitk.sitkFloat64),
        dose,
        transform,
        sitk.sitkLinear,
        0.0,
        sitk.sitkFloat64,
    )
    report(progress, 0.3, "per-structure doses and DVHs")
    p = sitk.GetArrayFromImage(on_grid)
    d = sitk.GetArrayFromImage(dose).astype(np.float64)
    voxel_mL = float(np.prod(dose.GetSpacing())) / 1000.0
    structures = delivered.results["structures"]
    planned, delivered_doses, dvh_cmp, planned_dvhs, categories = {}, {}, {}, {}, {}
    for name, entry in structures.items():
        if name not in delivered.dvhs:
            continue
        w = sitk.GetArrayViewFromImage(delivered.masks.weights[name]).astype(np.float64)
        idx = np.nonzero(w > 0)
        rho = np.full(idx[0].size, float(entry["density_g_per_mL"]))
        pdvh = dvh_from_samples(
            p[idx],
            w[idx],
            voxel_mL=voxel_mL,
            density_g_per_mL=rho,
            d_percents=D_PERCENTS,
        )
        planned_dvhs[name] = pdvh
        categories[name] = entry["category"]
        planned[name] = {"mean_dose_Gy": pdvh.metrics["mean_Gy"], "category": entry["category"]}
        delivered_doses[name] = {
            "mean_dose_Gy": entry["mean_dose_Gy"],
            "category": entry["category"],
        }
        dvh_cmp[name] = compare_dvhs(pdvh, delivered.dvhs[name])
    structures_cmp = compare_structures(planned, delivered_doses)
    report(progress, 0.5, "gamma index")
    reference = sitk.Cast(on_grid, sitk.sitkFloat32)
    gamma = gamma_index(
        reference,
        sitk.Cast(dose, sitk.sitkFloat32),
        dose_percent=dose_percent,
        dta_mm=dta_mm,
        cutoff_percent=cutoff_percent,
    )
    table = tolerance_table(structures_cmp, dvh_cmp, gamma, categories=categories)
    difference = sitk.GetImageFromArray((d - p).astype(np.float32))
    difference.CopyInformation(dose)
    report(progress, 1.0, "comparison done")
    return SirtComparison(
        structures=structures_cmp,
        dvhs=dvh_cmp,
        gamma=gamma,
        tolerance_table=table,
        registration=info,
        predicted_on_delivered=sitk.Cast(on_grid, sitk.sitkFloat32),
        difference_Gy=difference,
        planned_dvhs=planned_dvhs,
    )
