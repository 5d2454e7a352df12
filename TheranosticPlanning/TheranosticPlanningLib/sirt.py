"""90Y radioembolisation (SIRT) planning on MRML nodes.

From an MAA SPECT volume node, its CT volume node and a segmentation node (one segment per
compartment) to the core planner (:mod:`theranostics.planning.sirt`) and back to nodes:

- the plan table as a ``vtkMRMLTableNode`` (one row per compartment and pooled group; the
  recommended activity, binding constraint, LSF and T/N as ``Theranostics.Sirt*`` attributes);
- the predicted dose map (Gy, SPECT grid) as a scalar volume node marked as an RT dose volume
  (``DicomRtImport.DoseVolume = "1"``, the attribute SlicerRT's DVH and Isodose modules look
  for) with a window from 0 to the maximum dose. The dose-node helper of DoseMappingLib is not
  used: DoseMapping depends on TheranosticPlanning, not the reverse;
- the plan JSON (schema ``theranostics-plan-sirt/1``) in a ``vtkMRMLTextNode`` saved with the
  scene, readable back with :func:`plan_from_text_node`.

No Qt and no application-wide globals: the scene comes from the nodes or an argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import vtk

from theranostics.errors import InputError
from theranostics.image import QuantitativeImage
from theranostics.planning.sirt import SirtLimits, SirtPlan, plan_from_json, plan_sirt
from theranostics.planning.sirt_images import measure_compartments, predicted_dose_map
from theranostics.planning.sirt_json import SCHEMA, plan_table_rows

from .segmentations import masks_from_segmentation_node
from .volumes import image_from_volume_node, volume_node_from_image

#: Node attribute by which SlicerRT recognises a dose volume.
DOSE_VOLUME_ATTRIBUTE = "DicomRtImport.DoseVolume"
#: Attribute holding the schema of a plan text node.
PLAN_SCHEMA_ATTRIBUTE = "Theranostics.Schema"
_TEXT_COLUMNS = ("kind", "name", "tissue")


@dataclass(frozen=True)
class SirtNodes:
    """The plan and the nodes made for it."""

    plan: SirtPlan
    table_node: object
    dose_node: object
    text_node: object
    dose: QuantitativeImage


def plan_table_node(plan: SirtPlan, scene, name: str = "SIRT plan", node=None):
    """A table node with one row per compartment and pooled group of ``plan``.

    Columns: kind, name, tissue (text); fraction, mass_g, volume_mL, dose_Gy_per_GBq,
    predicted_dose_Gy, predicted_dose_sd_Gy (numbers; NaN where not determinable).
    """
    doc = plan.to_json()
    rows = plan_table_rows(doc)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    else:
        node.RemoveAllColumns()
        node.SetName(name)
    table = node.GetTable()
    for key in rows[0]:
        column = vtk.vtkStringArray() if key in _TEXT_COLUMNS else vtk.vtkDoubleArray()
        column.SetName(key)
        for row in rows:
            value = row[key]
            if key in _TEXT_COLUMNS:
                column.InsertNextValue(str(value))
            else:
                column.InsertNextValue(float("nan") if value is None else float(value))
        table.AddColumn(column)
    table.Modified()
    for key, attr in (
        ("recommended_activity_GBq", "SirtRecommendedActivityGBq"),
        ("binding_constraint", "SirtBindingConstraint"),
        ("lung_shunt_fraction", "SirtLungShuntFraction"),
        ("tumor_to_normal_ratio", "SirtTumorToNormalRatio"),
        ("method", "SirtMethod"),
    ):
        node.SetAttribute(f"Theranostics.{attr}", json.dumps(doc[key]))
    return node


def predicted_dose_node(dose: QuantitativeImage, scene, name: str | None = None, node=None):
    """The predicted dose map (Gy) as a scalar volume node marked as an RT dose volume.

    Raises:
        InputError: the image is not in Gy.
    """
    if dose.meta.quantity.units != "Gy":
        raise InputError(
            f"image units are {dose.meta.quantity.units!r}, not Gy",
            tag="quantity.units",
            fix="pass the predicted dose map",
        )
    node = volume_node_from_image(dose, scene, name=name or "90Y predicted dose", node=node)
    node.SetAttribute(DOSE_VOLUME_ATTRIBUTE, "1")
    display = node.GetDisplayNode()
    if display is not None:
        max_dose = float(np.max(sitk.GetArrayViewFromImage(dose.image)))
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(0.0, max(max_dose, 1e-6))
    return node


def plan_text_node(plan: SirtPlan, scene, name: str = "SIRT plan JSON", node=None):
    """The plan JSON in a ``vtkMRMLTextNode`` (stored with the scene)."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTextNode", name)
    node.SetText(json.dumps(plan.to_json(), indent=2))
    node.SetAttribute(PLAN_SCHEMA_ATTRIBUTE, SCHEMA)
    return node


def plan_from_text_node(node) -> SirtPlan:
    """The plan stored by :func:`plan_text_node`, verified against its inputs.

    Raises:
        InputError: the node holds no SIRT plan JSON, or its results do not match its inputs.
    """
    try:
        data = json.loads(node.GetText() or "")
    except json.JSONDecodeError as exc:
        raise InputError(
            f"text node {node.GetName()!r} holds no JSON ({exc})",
            tag="text",
            fix="select the node written by the SIRT planner",
        ) from None
    return plan_from_json(data, path=node.GetName())


def plan_sirt_from_nodes(
    spect_node,
    ct_node,
    segmentation_node,
    tissues: dict[str, str],
    *,
    lung_mass: str = "ct",
    name: str = "SIRT",
    **plan_options,
) -> SirtNodes:
    """Plan 90Y SIRT from MRML nodes and add the table, dose and plan-JSON nodes to the scene.

    Args:
        spect_node: MAA SPECT scalar volume (``Theranostics.*`` units counts/cps/Bq/mL).
        ct_node: CT scalar volume (HU) of the same frame of reference.
        segmentation_node: segments named as the keys of ``tissues``.
        tissues: segment name -> ``"tumor"``, ``"normal"``, ``"lung"`` or ``"other"``.
        lung_mass: ``"ct"`` or ``"fixed"`` (1000 g).
        name: prefix of the new nodes' names.
        plan_options: keyword arguments of :func:`theranostics.planning.sirt.plan_sirt`
            (method, target_*, limits, height_m, weight_kg, bsa_formula, rounding_GBq).

    Raises:
        InputError: a segment named in ``tissues`` is missing, or any refusal of the core.
    """
    scene = spect_node.GetScene()
    spect = image_from_volume_node(spect_node)
    ct = image_from_volume_node(ct_node)
    on_spect = masks_from_segmentation_node(segmentation_node, spect.image)
    on_ct = masks_from_segmentation_node(segmentation_node, ct.image)
    missing = sorted(set(tissues) - set(on_spect))
    if missing:
        raise InputError(
            f"segments {missing} not in {segmentation_node.GetName()!r}",
            tag="segment name",
            fix=f"use segment names from: {', '.join(on_spect)}",
        )
    sources = {n: f"segment {n!r} of {segmentation_node.GetName()!r}" for n in tissues}
    measured = measure_compartments(
        spect,
        ct,
        {n: on_spect[n] for n in tissues},
        tissues,
        ct_masks={n: on_ct[n] for n in tissues},
        lung_mass=lung_mass,
        sources=sources,
    )
    limits = plan_options.pop("limits", None) or SirtLimits()
    context = {
        "spect_node": spect_node.GetName(),
        "ct_node": ct_node.GetName(),
        "segmentation_node": segmentation_node.GetName(),
        "rois": dict(tissues),
        "lung_mass": lung_mass,
        "mass_grid": "CT",
        "counts_outside_compartments_fraction": measured.outside_fraction,
    }
    plan = plan_sirt(
        measured.compartments,
        limits=limits,
        context=context,
        notes=measured.notes,
        **plan_options,
    )
    dose = predicted_dose_map(spect, ct, measured.masks, plan)
    return SirtNodes(
        plan=plan,
        table_node=plan_table_node(plan, scene, f"{name} plan"),
        dose_node=predicted_dose_node(dose, scene, f"{name} predicted dose"),
        text_node=plan_text_node(plan, scene, f"{name} plan JSON"),
        dose=dose,
    )
