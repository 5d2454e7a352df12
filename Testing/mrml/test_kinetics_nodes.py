"""Kinetics MRML adapters on a real scene (slicer-core): TAC tables, plot chart, TIA volume.

The curves are real fits (:func:`theranostics.kinetics.fit.fit_tac`) of noise-free
mono-exponential and uptake-washout data, so the fitted-curve table can be checked against
the closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from DoseMappingLib.kinetics import (
    CURVE_REFERENCE_ROLE,
    TIME_COLUMN,
    add_tacs_to_scene,
    tac_table_node,
    tacs_from_table_node,
    tia_volume_node,
)
from TheranosticPlanningLib.volumes import image_from_volume_node

from theranostics.errors import InputError, UnitsError
from theranostics.image import QuantitativeImage
from theranostics.kinetics.fit import fit_tac
from theranostics.metadata import ImageMetadata, QuantityInfo

LU177_H = 159.528
TIMES_H = np.array([4.0, 24.0, 96.0, 168.0])


def _column(node, name) -> np.ndarray:
    column = node.GetTable().GetColumnByName(name)
    return np.array([column.GetValue(r) for r in range(column.GetNumberOfTuples())])


@pytest.fixture
def fits():
    kidney = 100.0 * np.exp(-math.log(2) / 40.0 * TIMES_H)
    liver = 80.0 * (np.exp(-0.02 * TIMES_H) - np.exp(-0.7 * TIMES_H))
    return {
        "kidney_left": fit_tac(TIMES_H, kidney, physical_half_life_h=LU177_H, model="mono-exp"),
        "liver": fit_tac(TIMES_H, liver, physical_half_life_h=LU177_H, model="uptake-washout"),
    }


def test_tables_hold_points_and_fitted_curves(mrml_scene, fits):
    nodes = add_tacs_to_scene(fits, mrml_scene, fits=fits, name="TAC")
    table = nodes.table
    assert table.GetColumnUnitLabel(TIME_COLUMN) == "h"
    assert table.GetColumnUnitLabel("liver") == "MBq"
    np.testing.assert_allclose(_column(table, TIME_COLUMN), TIMES_H)
    np.testing.assert_allclose(_column(table, "kidney_left"), fits["kidney_left"].activities_MBq)
    times, curves = tacs_from_table_node(table)
    np.testing.assert_allclose(times, TIMES_H)
    assert list(curves) == ["kidney_left", "liver"]

    curve = nodes.curve_table
    assert table.GetNodeReference(CURVE_REFERENCE_ROLE).GetID() == curve.GetID()
    t = _column(curve, TIME_COLUMN)
    assert t[0] == 0.0 and t[-1] == pytest.approx(1.25 * TIMES_H[-1])
    assert set(TIMES_H) <= set(t)  # the curve is sampled at the measured times too
    # The fitted curves are the closed forms the data came from.
    np.testing.assert_allclose(
        _column(curve, "kidney_left"), 100.0 * np.exp(-math.log(2) / 40.0 * t), rtol=1e-5
    )
    np.testing.assert_allclose(
        _column(curve, "liver"), 80.0 * (np.exp(-0.02 * t) - np.exp(-0.7 * t)), atol=1e-3
    )
    assert curve.GetColumnProperty("liver", "model") == "uptake-washout"
    assert float(curve.GetColumnProperty("kidney_left", "tia_MBq_h")) == pytest.approx(
        fits["kidney_left"].tia_MBq_h
    )


def test_chart_has_markers_for_points_and_lines_for_fits(mrml_scene, fits):
    nodes = add_tacs_to_scene(fits, mrml_scene, fits=fits, name="TAC")
    chart = nodes.chart
    assert chart.GetXAxisTitle() == "Time after administration (h)"
    assert chart.GetYAxisTitle() == "Activity (MBq)"
    assert chart.GetNumberOfPlotSeriesNodes() == 4
    for structure, pair in nodes.series.items():
        measured, fitted = pair["measured"], pair["fitted"]
        assert measured.GetLineStyle() == measured.LineStyleNone
        assert measured.GetMarkerStyle() == measured.MarkerStyleCircle
        assert fitted.GetLineStyle() == fitted.LineStyleSolid
        assert fitted.GetMarkerStyle() == fitted.MarkerStyleNone
        assert measured.GetColor() == fitted.GetColor()
        assert measured.GetTableNodeID() == nodes.table.GetID()
        assert fitted.GetTableNodeID() == nodes.curve_table.GetID()
        assert measured.GetXColumnName() == TIME_COLUMN
        assert fitted.GetYColumnName() == structure
    colours = {pair["measured"].GetColor() for pair in nodes.series.values()}
    assert len(colours) == 2


def test_points_only_and_bad_curves(mrml_scene, fits):
    nodes = add_tacs_to_scene(fits, mrml_scene)  # no fits: no curve table, points only
    assert nodes.curve_table is None
    assert nodes.chart.GetNumberOfPlotSeriesNodes() == 2

    class Curve:
        def __init__(self, t, a):
            self.times_h, self.activities_MBq = np.asarray(t), np.asarray(a)

    with pytest.raises(InputError, match="time points differ"):
        tac_table_node({"a": Curve([1, 2], [3, 4]), "b": Curve([1, 3], [3, 4])}, mrml_scene)
    with pytest.raises(InputError, match="no time-activity curves"):
        tac_table_node({}, mrml_scene)


def test_tia_volume_node_units_and_round_trip(mrml_scene):
    values = np.zeros((5, 6, 7), np.float32)
    values[2, 3, 4] = 1234.5
    values[1, 2, 3] = 10.0
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((4.8, 4.8, 4.8))
    image.SetOrigin((-12.0, 30.0, 5.0))
    meta = ImageMetadata(modality="NM", frame_of_reference_uid="1.2.3")
    node = tia_volume_node(image, mrml_scene, name="TIA", reference_meta=meta, model="mono-exp")
    assert node.GetVoxelValueUnits().GetCodeValue() == "MBq.h"
    assert node.GetVoxelValueQuantity().GetCodeValue() == "TimeIntegratedActivity"
    assert node.GetAttribute("Theranostics.TIAModel") == "mono-exp"
    assert float(node.GetAttribute("Theranostics.TIATotalMBqh")) == pytest.approx(1244.5)
    back = image_from_volume_node(node)
    assert back.meta.quantity.units == "MBq*h"
    assert back.meta.frame_of_reference_uid == "1.2.3"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back.image), values)
    np.testing.assert_allclose(back.image.GetOrigin(), image.GetOrigin())
    wrong = QuantitativeImage(image, ImageMetadata(quantity=QuantityInfo(units="Bq/mL")))
    with pytest.raises(UnitsError, match="not MBq\\*h"):
        tia_volume_node(wrong, mrml_scene)
