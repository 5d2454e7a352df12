"""The DoseMapping panel's single-time-point radioembolisation section on a real MRML scene
(slicer-core): the panel's text and "0 = none" fields become the arguments of
``sirt_dosimetry_from_nodes`` (DoseMappingLib.panel_sirt)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from DoseMappingLib.panel_sirt import datetime_from_text, names_from_text, sirt_dosimetry_panel
from DoseMappingLib.sirt_dosimetry import RESULTS_ATTRIBUTE, sirt_dosimetry_from_nodes
from sirt_nrrd import write_y90_phantom
from TheranosticPlanningLib.seg_files import load_segmentation_file
from TheranosticPlanningLib.volumes import volume_node_from_image

from theranostics.errors import InputError, TimingError
from theranostics.io.slicer_files import read_volume
from theranostics.nuclide_data.emissions import get_emissions


@pytest.fixture
def phantom_nodes(mrml_scene, tmp_path):
    pet_path, seg_path = write_y90_phantom(tmp_path)
    pet = read_volume(pet_path, overrides={"units": "Bq/mL", "nuclide": "Y-90"})
    return (
        volume_node_from_image(pet, mrml_scene, "90Y PET"),
        load_segmentation_file(seg_path, mrml_scene),
    )


def test_text_fields():
    assert names_from_text(" Tumor 1, ,Tumor 2 ") == ["Tumor 1", "Tumor 2"]
    assert names_from_text("") == []
    assert datetime_from_text("", "x") is None
    assert datetime_from_text("2024-05-01 09:30", "x") == datetime(2024, 5, 1, 9, 30)
    assert datetime_from_text("2024-05-01T09:30+02:00", "x") == datetime(2024, 5, 1, 9, 30)
    with pytest.raises(InputError, match="implantation date-time"):
        datetime_from_text("1 May", "implantation date-time")


def test_panel_values_reach_the_dosimetry(phantom_nodes):
    pet_node, seg_node = phantom_nodes
    with pytest.raises(InputError, match="no segmentation selected"):
        sirt_dosimetry_panel(pet_node, None, decay_corrected_to_implantation=True)
    # neither the checkbox nor date-times (the phantom volume has none): refused, not guessed
    with pytest.raises(TimingError, match="implantation date-time"):
        sirt_dosimetry_panel(pet_node, seg_node)

    corrected = sirt_dosimetry_panel(
        pet_node,
        seg_node,
        decay_corrected_to_implantation=True,
        implantation_datetime_text="not read when the box is ticked",
        tumor_names_text="Tumor 1",
        normal_name_text="Normal liver",
    )
    direct = sirt_dosimetry_from_nodes(
        pet_node,
        seg_node,
        decay_corrected_to_implantation=True,
        tumors=["Tumor 1"],
        normal="Normal liver",
    )
    for name, entry in direct.results["structures"].items():
        got = corrected.results["structures"][name]
        assert got["mean_dose_Gy"] == pytest.approx(entry["mean_dose_Gy"], rel=1e-12)
        assert got["role"] == entry["role"]
    assert corrected.results["structures"]["Tumor 1"]["role"] == "tumor"
    assert corrected.results["structures"]["Normal liver"]["role"] == "normal"

    # typed date-times 24 h apart: the activity at implantation is the measured one
    # times 2^(24 h / T1/2); the dose follows it (same dose node, overwritten)
    delayed = sirt_dosimetry_panel(
        pet_node,
        seg_node,
        implantation_datetime_text="2024-05-01T09:00",
        acquisition_datetime_text="2024-05-02 09:00",
        dose_node=corrected.dose_node,
    )
    assert delayed.dose_node.GetID() == corrected.dose_node.GetID()
    summary = json.loads(delayed.table_node.GetAttribute(RESULTS_ATTRIBUTE))
    expected = 2.0 ** (24.0 / get_emissions("Y-90").half_life_h)  # ICRP 107: 64.1 h
    assert summary["timing"]["decay_correction_factor"] == pytest.approx(expected, rel=1e-9)
    ratio = (
        delayed.results["structures"]["Tumor 1"]["mean_dose_Gy"]
        / corrected.results["structures"]["Tumor 1"]["mean_dose_Gy"]
    )
    assert ratio == pytest.approx(expected, rel=1e-9)


def test_unknown_segment_name_is_named(phantom_nodes):
    pet_node, seg_node = phantom_nodes
    with pytest.raises(InputError, match="Tumour 3"):
        sirt_dosimetry_panel(
            pet_node, seg_node, decay_corrected_to_implantation=True, lung_names_text="Tumour 3"
        )
