"""DoseMapping panel actions (Lib ``panel``) on a real MRML scene."""

from __future__ import annotations

import pytest
from DoseMappingLib.panel import store_time_points, time_point_rows
from TheranosticPlanningLib.node_attributes import read_metadata
from TheranosticPlanningLib.sample_data import load_sample_time_points

from theranostics.errors import TimingError


@pytest.fixture
def time_points(mrml, synthetic_study_small, tmp_path):
    import shutil

    shutil.copytree(synthetic_study_small, tmp_path / "sample-data" / synthetic_study_small.name)
    return load_sample_time_points(mrml.scene, tmp_path)


def test_time_point_list_is_in_time_order_with_hours(mrml, time_points):
    nodes, rows = time_point_rows(mrml.scene)
    assert [n.GetName() for n in nodes] == ["SPECT 4 h", "SPECT 24 h", "SPECT 96 h", "SPECT 168 h"]
    assert [round(float(r[1])) for r in rows] == [4, 24, 96, 168]
    assert {r[2] for r in rows} == {"Bq/mL"} and {r[3] for r in rows} == {"Lu-177"}


def test_edited_times_are_stored_and_bad_ones_refused_without_changes(mrml, time_points):
    nodes, _ = time_point_rows(mrml.scene)
    store_time_points(nodes, ["4", "24", "100", "168"])
    meta = read_metadata(nodes[2])
    hours = (meta.acquisition.start - meta.administration.datetime).total_seconds() / 3600
    assert hours == pytest.approx(100.0)
    before = [n.GetAttribute("Theranostics.AcquisitionStart") for n in nodes]
    for bad, match in (
        (["4", "24", "x", "168"], "not a number"),
        (["4", "-1", "96", "168"], "before the administration"),
        (["4", "24", "24", "168"], "share one time"),
    ):
        with pytest.raises(TimingError, match=match):
            store_time_points(nodes, bad)
        assert [n.GetAttribute("Theranostics.AcquisitionStart") for n in nodes] == before
