"""Registration results as MRML transform nodes on a real scene: RAS conversion, the
from-parent convention, and the round trip back to the core."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from DoseMappingLib.registration import (
    elastix_available,
    registration_transform_from_node,
    transform_node_from_registration,
)

from theranostics.errors import InputError
from theranostics.registration import CtRegistration, euler_from_matrix

FLIP = np.array([-1.0, -1.0, 1.0])
POINTS_LPS = np.array([[10.0, -20.0, 300.0], [-120.0, 60.0, 150.0], [80.0, 40.0, 520.0]])


def _rigid():
    angles = np.radians([1.5, -2.0, 3.0])
    transform = sitk.Euler3DTransform((0.0, 20.0, 300.0), *angles, (4.0, -3.0, 5.5))
    transform.SetComputeZYX(True)
    return transform


def test_rigid_node_from_parent_is_the_itk_transform(mrml_scene):
    rigid = _rigid()
    node = transform_node_from_registration(mrml_scene, rigid, "tp2 to tp1")
    assert node.IsA("vtkMRMLLinearTransformNode")
    from_parent = node.GetTransformFromParent()
    to_parent = node.GetTransformToParent()
    for p in POINTS_LPS:
        q = np.array(rigid.TransformPoint(tuple(p)))  # fixed -> moving, LPS
        # From parent (world = fixed) to the moving volume's frame: the ITK map, in RAS.
        assert np.allclose(from_parent.TransformPoint(tuple(p * FLIP)), q * FLIP, atol=1e-6)
        # To parent: a moving-volume point lands on the matching fixed (world) point.
        assert np.allclose(to_parent.TransformPoint(tuple(q * FLIP)), p * FLIP, atol=1e-6)


def test_rigid_round_trip_through_the_node(mrml_scene):
    rigid = _rigid()
    node = transform_node_from_registration(mrml_scene, rigid, "rigid")
    back = registration_transform_from_node(node)
    assert isinstance(back, sitk.Euler3DTransform)
    for p in POINTS_LPS:
        assert np.allclose(back.TransformPoint(tuple(p)), rigid.TransformPoint(tuple(p)), atol=1e-6)
    # A user correction in Slicer (shift 2 mm towards Right = -x in LPS) reaches the core.
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetMatrixTransformFromParent(matrix)
    matrix.SetElement(0, 3, matrix.GetElement(0, 3) + 2.0)
    node.SetMatrixTransformFromParent(matrix)
    corrected = registration_transform_from_node(node)
    p = tuple(POINTS_LPS[0])
    assert np.allclose(
        np.subtract(corrected.TransformPoint(p), rigid.TransformPoint(p)), (-2.0, 0.0, 0.0)
    )


def _deformable_registration():
    domain = sitk.Image([20, 20, 30], sitk.sitkFloat32)
    domain.SetSpacing((10.0, 10.0, 10.0))
    domain.SetOrigin((-100.0, -80.0, 150.0))
    bspline = sitk.BSplineTransformInitializer(domain, [3, 3, 4], 3)
    rng = np.random.default_rng(5)
    bspline.SetParameters(tuple(rng.normal(0.0, 2.0, len(bspline.GetParameters()))))
    rigid = _rigid()
    composite = sitk.CompositeTransform([rigid, bspline])
    return CtRegistration(transform=composite, rigid=rigid, bspline=bspline, quality={},
                          warnings=[])  # fmt: skip


def test_deformable_result_becomes_a_grid_transform(mrml_scene):
    registration = _deformable_registration()
    node = transform_node_from_registration(
        mrml_scene, registration, "deformable", grid_spacing_mm=5.0
    )
    assert node.IsA("vtkMRMLGridTransformNode")
    from_parent = node.GetTransformFromParent()
    inside = np.array([[-50.0, -30.0, 250.0], [20.0, 40.0, 300.0], [0.0, 0.0, 350.0]])
    for p in inside:
        q = np.array(registration.transform.TransformPoint(tuple(p)))
        # Cubic interpolation of a 5 mm grid of a smooth field: well under 0.1 mm.
        assert np.allclose(from_parent.TransformPoint(tuple(p * FLIP)), q * FLIP, atol=0.1)
    back = registration_transform_from_node(node)
    for p in inside:
        assert np.allclose(
            back.TransformPoint(tuple(p)), registration.transform.TransformPoint(tuple(p)),
            atol=0.1,
        )  # fmt: skip


def test_other_transform_nodes_are_refused(mrml_scene):
    node = mrml_scene.AddNewNodeByClass("vtkMRMLBSplineTransformNode", "bspline")
    with pytest.raises(InputError, match="neither linear nor grid"):
        registration_transform_from_node(node)


def test_affine_node_gives_affine_transform(mrml_scene):
    matrix = np.diag([1.1, 1.0, 0.9])
    affine = sitk.AffineTransform(3)
    affine.SetMatrix(tuple(matrix.ravel()))
    affine.SetTranslation((1.0, 2.0, 3.0))
    node = transform_node_from_registration(mrml_scene, affine, "affine")
    back = registration_transform_from_node(node)
    assert isinstance(back, sitk.AffineTransform)
    p = tuple(POINTS_LPS[1])
    assert np.allclose(back.TransformPoint(p), affine.TransformPoint(p))
    assert euler_from_matrix(np.eye(3)).TransformPoint(p) == pytest.approx(p)


def test_elastix_availability_is_a_plain_check():
    assert isinstance(elastix_available(), bool)
