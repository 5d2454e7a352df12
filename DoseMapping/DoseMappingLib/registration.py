"""Registration results as MRML transform nodes, and user-edited nodes back to the core.

Conventions (see ``docs/registration.md``):

* the core's registration transform (ITK) maps points of the FIXED (reference) image to the
  MOVING (session) image, in LPS mm: what resampling the moving image onto the fixed grid
  needs;
* a Slicer transform node stores its "to parent" and "from parent" transforms in RAS. A
  moving volume placed under the node appears aligned with the fixed volume when the node
  maps the moving volume's points to world (= fixed) points, i.e. when its *to parent* is the
  inverse of the ITK transform; equivalently its *from parent* is the ITK transform. This is
  how Slicer itself stores ITK transform files (resampling transforms) and how
  SlicerElastix returns its results, so we set the *from parent* side;
* LPS -> RAS: ``M_ras = F M_lps F`` with ``F = diag(-1, -1, 1, 1)`` (via
  ``TheranosticPlanningLib.coordinates``, the one place of that flip).

A rigid result becomes a ``vtkMRMLLinearTransformNode``. A rigid + B-spline result becomes a
``vtkMRMLGridTransformNode`` holding the whole transform (rigid part included) as a
displacement field sampled every ``grid_spacing_mm`` over the fixed body's B-spline domain
(outside it the rigid part alone applies in the core, and Slicer extrapolates the grid's edge
displacement: inspect and correct inside the body).

No Qt and no application-wide globals: the scene is an argument.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from TheranosticPlanningLib.coordinates import from_vtk_matrix, to_vtk_matrix
from vtkmodules.util import numpy_support

from theranostics.errors import InputError
from theranostics.registration import CtRegistration, euler_from_matrix

#: diag(-1, -1, 1, 1): LPS <-> RAS for 4x4 homogeneous matrices (its own inverse).
_FLIP4 = np.diag([-1.0, -1.0, 1.0, 1.0])
_FLIP3 = _FLIP4[:3, :3]


def elastix_available() -> bool:
    """True when SlicerElastix's Python module can be imported (the app then offers it; the
    headless path stays SimpleITK). Only checks importability; nothing is loaded."""
    try:
        return importlib.util.find_spec("Elastix") is not None
    except (ImportError, ValueError):
        return False


def _lps_matrix_of(transform: sitk.Transform) -> np.ndarray:
    """4x4 homogeneous matrix (LPS) of a linear sitk transform: x -> A x + b."""
    linear = sitk.AffineTransform(3)
    try:
        euler = sitk.Euler3DTransform(transform)
        matrix, center = np.reshape(euler.GetMatrix(), (3, 3)), np.array(euler.GetCenter())
        translation = np.array(euler.GetTranslation())
    except (RuntimeError, TypeError):
        linear = sitk.AffineTransform(transform)
        matrix, center = np.reshape(linear.GetMatrix(), (3, 3)), np.array(linear.GetCenter())
        translation = np.array(linear.GetTranslation())
    result = np.eye(4)
    result[:3, :3] = matrix
    result[:3, 3] = center + translation - matrix @ center
    return result


def transform_node_from_registration(
    scene, registration: CtRegistration | sitk.Transform, name: str, *,
    grid_spacing_mm: float = 10.0,
):  # fmt: skip
    """A transform node for a core registration (from-parent = the ITK fixed->moving map).

    Args:
        scene: the ``vtkMRMLScene`` to add the node to.
        registration: a :class:`CtRegistration` or a sitk transform (ITK convention).
        name: node name.
        grid_spacing_mm: sampling of the displacement grid for a deformable result (mm).

    Returns:
        ``vtkMRMLLinearTransformNode`` (rigid or affine) or ``vtkMRMLGridTransformNode``
        (rigid + B-spline, sampled on the B-spline's domain).
    """
    if isinstance(registration, CtRegistration):
        transform, bspline = registration.transform, registration.bspline
    else:
        transform, bspline = registration, None
    if bspline is None:
        node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
        matrix_ras = _FLIP4 @ _lps_matrix_of(transform) @ _FLIP4
        node.SetMatrixTransformFromParent(to_vtk_matrix(matrix_ras))
    else:
        node = scene.AddNewNodeByClass("vtkMRMLGridTransformNode", name)
        node.SetAndObserveTransformFromParent(_grid_transform(transform, bspline, grid_spacing_mm))
    node.SetAttribute("Theranostics.TransformConvention", "from-parent = ITK fixed->moving")
    return node


def _bspline_domain(bspline: sitk.Transform):
    """Origin, size and extent (LPS, mm) of a B-spline transform's domain."""
    params = bspline.GetFixedParameters()  # mesh size+order, origin, spacing, direction
    dim = 3
    grid_size = np.array(params[0:dim])
    origin = np.array(params[dim : 2 * dim])
    spacing = np.array(params[2 * dim : 3 * dim])
    direction = np.reshape(params[3 * dim : 3 * dim + 9], (3, 3))
    return origin, grid_size * spacing, direction


def _grid_transform(transform: sitk.Transform, bspline: sitk.Transform, spacing_mm: float):
    """The full transform sampled as a displacement grid in RAS (vtkOrientedGridTransform)."""
    origin, extent, direction = _bspline_domain(bspline)
    size = [max(2, int(np.ceil(e / spacing_mm)) + 1) for e in extent]
    field = sitk.TransformToDisplacementField(
        transform, sitk.sitkVectorFloat64, size, tuple(origin), (spacing_mm,) * 3,
        tuple(direction.ravel()),
    )  # fmt: skip
    displacement_lps = sitk.GetArrayFromImage(field)  # (k, j, i, 3)
    displacement_ras = displacement_lps @ _FLIP3.T
    image = vtk.vtkImageData()
    image.SetDimensions(size)
    image.SetSpacing((spacing_mm,) * 3)
    image.SetOrigin(tuple(_FLIP3 @ origin))
    vectors = numpy_support.numpy_to_vtk(
        np.ascontiguousarray(displacement_ras.reshape(-1, 3)), deep=True,
        array_type=vtk.VTK_DOUBLE,
    )  # fmt: skip
    image.GetPointData().SetScalars(vectors)
    grid = slicer.vtkOrientedGridTransform()
    grid.SetDisplacementGridData(image)
    grid.SetInterpolationModeToCubic()
    direction4 = np.eye(4)
    direction4[:3, :3] = _FLIP3 @ direction
    grid.SetGridDirectionMatrix(to_vtk_matrix(direction4))
    return grid


def registration_transform_from_node(node) -> sitk.Transform:
    """The core (ITK, LPS, fixed->moving) transform of a transform node, e.g. after a user
    corrected it in Slicer.

    A linear node gives an ``Euler3DTransform`` when its matrix is a rotation, otherwise an
    ``AffineTransform``; a grid node gives a ``DisplacementFieldTransform``.

    Raises:
        InputError: another kind of transform (a B-spline node, a composite).
    """
    if node.IsA("vtkMRMLLinearTransformNode"):
        matrix = vtk.vtkMatrix4x4()
        node.GetMatrixTransformFromParent(matrix)
        lps = _FLIP4 @ from_vtk_matrix(matrix) @ _FLIP4
        linear, offset = lps[:3, :3], lps[:3, 3]
        if np.allclose(linear.T @ linear, np.eye(3), atol=1e-6) and np.linalg.det(linear) > 0:
            return euler_from_matrix(linear, translation_mm=offset)
        affine = sitk.AffineTransform(3)
        affine.SetMatrix(tuple(linear.ravel()))
        affine.SetTranslation(tuple(offset))
        return affine
    if node.IsA("vtkMRMLGridTransformNode"):
        grid = node.GetTransformFromParent()
        if not isinstance(grid, slicer.vtkOrientedGridTransform):
            raise InputError(
                "the grid transform node holds no single displacement grid",
                tag=node.GetName(),
                fix="harden composite transforms into one grid transform first",
            )
        return _field_from_grid(grid)
    raise InputError(
        f"transform node {node.GetName()!r} ({node.GetClassName()}) is neither linear nor grid",
        tag=node.GetName(),
        fix="convert it to a linear or grid transform in Slicer's Transforms module",
    )


def _field_from_grid(grid) -> sitk.Transform:
    image = grid.GetDisplacementGrid()
    dims = image.GetDimensions()
    vectors = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).astype(np.float64)
    vectors = vectors.reshape(dims[2], dims[1], dims[0], 3) @ _FLIP3.T  # RAS -> LPS vectors
    direction_ras = from_vtk_matrix(grid.GetGridDirectionMatrix())[:3, :3]
    field = sitk.GetImageFromArray(vectors, isVector=True)
    field.SetSpacing(image.GetSpacing())
    field.SetOrigin(tuple(_FLIP3 @ np.array(image.GetOrigin())))
    field.SetDirection(tuple((_FLIP3 @ direction_ras).ravel()))
    return sitk.DisplacementFieldTransform(field)
