"""The one place where DICOM/ITK LPS meets Slicer RAS.

The core speaks LPS (x to the patient's Left, y Posterior, z Superior); Slicer's world is RAS
(x Right, y Anterior, z Superior). The two differ by negating x and y, i.e. by the matrix
``diag(-1, -1, 1)``, which is its own inverse. Every conversion in the Libs goes through the
functions here, so a sign cannot be flipped twice or forgotten.

Matrices are numpy arrays; :func:`to_vtk_matrix` and :func:`from_vtk_matrix` convert 4x4
matrices to and from ``vtkMatrix4x4``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vtk

#: LPS -> RAS (and RAS -> LPS): negate x and y.
LPS_TO_RAS_3X3 = np.diag([-1.0, -1.0, 1.0])


def lps_to_ras(point: Sequence[float]) -> np.ndarray:
    """A point or vector (mm) from LPS to RAS."""
    return LPS_TO_RAS_3X3 @ np.asarray(point, dtype=float)


def ras_to_lps(point: Sequence[float]) -> np.ndarray:
    """A point or vector (mm) from RAS to LPS (the same flip as :func:`lps_to_ras`)."""
    return LPS_TO_RAS_3X3 @ np.asarray(point, dtype=float)


def direction_lps_to_ras(direction: np.ndarray) -> np.ndarray:
    """3x3 direction cosines (columns are the i, j, k axes) from LPS to RAS."""
    return LPS_TO_RAS_3X3 @ np.asarray(direction, dtype=float).reshape(3, 3)


def direction_ras_to_lps(direction: np.ndarray) -> np.ndarray:
    """3x3 direction cosines (columns are the i, j, k axes) from RAS to LPS."""
    return LPS_TO_RAS_3X3 @ np.asarray(direction, dtype=float).reshape(3, 3)


def ijk_to_ras_matrix(
    origin_lps: Sequence[float], spacing_mm: Sequence[float], direction_lps: np.ndarray
) -> np.ndarray:
    """4x4 IJK-to-RAS matrix of a grid given in LPS (ITK origin, spacing, direction).

    ``ras = M @ (i, j, k, 1)`` with ``M[:3, :3] = flip @ direction @ diag(spacing)`` and
    ``M[:3, 3] = flip @ origin``.
    """
    matrix = np.eye(4)
    direction_ras = direction_lps_to_ras(direction_lps)
    matrix[:3, :3] = direction_ras @ np.diag(np.asarray(spacing_mm, dtype=float))
    matrix[:3, 3] = lps_to_ras(origin_lps)
    return matrix


def to_vtk_matrix(matrix: np.ndarray) -> vtk.vtkMatrix4x4:
    """A numpy 4x4 as a new ``vtkMatrix4x4``."""
    result = vtk.vtkMatrix4x4()
    for row in range(4):
        for col in range(4):
            result.SetElement(row, col, float(matrix[row, col]))
    return result


def from_vtk_matrix(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    """A ``vtkMatrix4x4`` as a numpy 4x4."""
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
