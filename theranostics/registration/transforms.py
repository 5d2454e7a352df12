"""Rigid-transform helpers: parameters in readable units and transform comparison.

Convention (ITK, used by every transform of this package): a registration transform maps a
point of the FIXED image's physical space (LPS, mm) to the corresponding point of the MOVING
image's physical space, ``x_moving = T(x_fixed)``; it is what ``sitk.Resample(moving, fixed,
T)`` needs to bring the moving image onto the fixed grid.

A rigid transform is ``T(x) = R (x − c) + c + t`` with the rotation R, the centre c and the
translation t (mm). Euler angles follow ITK's ``Euler3DTransform`` with ``ComputeZYX`` on:
``R = Rz(γ) Ry(β) Rx(α)``, angles about the LPS x, y and z axes — the convention of the
synthetic study's ground truth (``docs/phantom.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import SimpleITK as sitk


def euler_from_matrix(
    matrix: Sequence[Sequence[float]],
    *,
    centre_mm: Sequence[float] = (0.0, 0.0, 0.0),
    translation_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> sitk.Euler3DTransform:
    """An ``Euler3DTransform`` (ComputeZYX on) ``x -> R (x − c) + c + t``."""
    transform = sitk.Euler3DTransform()
    transform.SetComputeZYX(True)
    transform.SetCenter(tuple(float(v) for v in centre_mm))
    transform.SetMatrix(tuple(float(v) for v in np.asarray(matrix, dtype=float).ravel()))
    transform.SetTranslation(tuple(float(v) for v in translation_mm))
    return transform


def transform_from_motion(motion: Mapping) -> sitk.Euler3DTransform:
    """The transform of a synthetic-study motion record (``ground_truth.json`` →
    ``time_points[i].motion``): ``x_scanner = R (x_reference − centre) + centre +
    translation``.

    With the first session as the reference pose, it maps reference (fixed) points to the
    session's (moving) scanner points: the ITK registration transform expected when the
    session's CT is registered to the reference CT.
    """
    return euler_from_matrix(
        motion["matrix"], centre_mm=motion["centre_mm"], translation_mm=motion["translation_mm"]
    )


def rigid_parameters(transform: sitk.Euler3DTransform) -> dict:
    """Readable parameters: angles (degrees, about LPS x, y, z; R = Rz Ry Rx), translation
    (mm), centre (mm), the 3×3 matrix and the total rotation angle (degrees)."""
    euler = sitk.Euler3DTransform(transform)
    if not euler.GetComputeZYX():
        # Re-express in the ZYX convention: same matrix, other angles.
        euler = euler_from_matrix(
            np.reshape(euler.GetMatrix(), (3, 3)),
            centre_mm=euler.GetCenter(),
            translation_mm=euler.GetTranslation(),
        )
    matrix = np.reshape(euler.GetMatrix(), (3, 3))
    return {
        "angles_deg": [math.degrees(a) for a in (euler.GetAngleX(), euler.GetAngleY(),
                                                  euler.GetAngleZ())],
        "translation_mm": list(euler.GetTranslation()),
        "centre_mm": list(euler.GetCenter()),
        "matrix": matrix.tolist(),
        "rotation_angle_deg": rotation_angle_deg(matrix),
    }  # fmt: skip


def rotation_angle_deg(matrix: np.ndarray) -> float:
    """The angle (degrees) of a rotation matrix: ``arccos((trace − 1) / 2)``."""
    cosine = (float(np.trace(np.asarray(matrix, dtype=float).reshape(3, 3))) - 1.0) / 2.0
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def transform_points(transform: sitk.Transform, points_mm: np.ndarray) -> np.ndarray:
    """Apply ``transform`` to an (N, 3) array of LPS points (mm)."""
    return np.array([transform.TransformPoint(tuple(map(float, p))) for p in points_mm])


def box_corners(lower_mm: Sequence[float], upper_mm: Sequence[float]) -> np.ndarray:
    """The 8 corners (8, 3) of an axis-aligned box."""
    lo, hi = np.asarray(lower_mm, float), np.asarray(upper_mm, float)
    return np.array([[(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]]
                     for i in (0, 1) for j in (0, 1) for k in (0, 1)])  # fmt: skip


def compare_transforms(
    estimate: sitk.Transform, truth: sitk.Transform, points_mm: np.ndarray
) -> dict:
    """How far apart two fixed→moving transforms are.

    Returns:
        ``max_displacement_error_mm`` and ``mean_displacement_error_mm`` over ``points_mm``
        (|T_est(x) − T_true(x)|, mm) and, when both transforms are linear,
        ``residual_rotation_deg``: the angle of ``R_est^T R_true``.
    """
    points = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    error = np.linalg.norm(
        transform_points(estimate, points) - transform_points(truth, points), axis=1
    )
    result = {
        "max_displacement_error_mm": float(error.max()),
        "mean_displacement_error_mm": float(error.mean()),
        "points": len(points),
    }
    try:
        r_est = np.reshape(sitk.Euler3DTransform(estimate).GetMatrix(), (3, 3))
        r_true = np.reshape(sitk.Euler3DTransform(truth).GetMatrix(), (3, 3))
        result["residual_rotation_deg"] = rotation_angle_deg(r_est.T @ r_true)
    except (RuntimeError, TypeError):
        pass  # not rigid (a composite with a B-spline): displacement only
    return result
