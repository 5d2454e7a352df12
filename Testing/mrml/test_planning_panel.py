"""The TheranosticPlanning panel actions (Lib ``panel``) on a real MRML scene.

The Widget passes its parameter node; here a plain object with the same attribute names
holds real MRML nodes and values, so every action a button triggers runs headless.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from TheranosticPlanningLib.node_attributes import read_metadata
from TheranosticPlanningLib.panel import (
    assess_response,
    metadata_rows,
    plan_rlt,
    plan_sirt,
    segment_lesions,
    store_metadata_rows,
)
from TheranosticPlanningLib.planning import plan_from_scene
from TheranosticPlanningLib.segmentations import segmentation_node_from_rtstruct
from TheranosticPlanningLib.volumes import volume_node_from_image

from theranostics.errors import InputError, InvalidTagError
from theranostics.io import read_image
from theranostics.planning.rlt import plan_rlt as core_plan_rlt
from theranostics.planning.rlt_inputs import StructureInput


def _panel(**values) -> SimpleNamespace:
    """Defaults of TheranosticPlanningParameterNode for the fields the actions read."""
    defaults = dict(
        petVolume=None,
        spectVolume=None,
        ctVolume=None,
        dosimetryResultsPath=Path("."),
        kidneyDoseGyPerGBq=0.0,
        kidneyEffectiveHalfLifeH=0.0,
        marrowDoseGyPerGBq=0.0,
        marrowEffectiveHalfLifeH=0.0,
        salivaryDoseGyPerGBq=0.0,
        salivaryEffectiveHalfLifeH=0.0,
        cycles=4,
        kidneyRiskFactors=False,
        rltPlanTable=None,
        maaSpectVolume=None,
        maaCtVolume=None,
        sirtSegmentation=None,
        tumorSegmentNames="Tumor",
        lungSegmentName="Lung",
        normalSegmentName="",
        sirtMethod="partition",
        sirtTargetDoseGy=120.0,
        previousLungDoseGy=0.0,
        sirtPlanTable=None,
        sirtDoseVolume=None,
        patientWeightKg=0.0,
        injectedActivityMBq=0.0,
        lesionMethod="percent-max",
        lesionThresholdSuv=3.0,
        relativeThresholdPercent=41.0,
        minimumLesionVolumeML=1.0,
        exclusionOrgans=None,
        liverReference=None,
        seedPoints=None,
        lesionSegmentation=None,
        biomarkerTable=None,
        baselineVolume=None,
        baselineSegmentation=None,
        followupVolume=None,
        followupSegmentation=None,
        responseTable=None,
    )
    defaults.update(values)
    return SimpleNamespace(**defaults)


def test_rlt_button_gives_the_core_plan_and_puts_it_in_the_scene(mrml):
    p = _panel(
        scene=mrml.scene,
        kidneyDoseGyPerGBq=0.6,
        kidneyEffectiveHalfLifeH=40.0,
        marrowDoseGyPerGBq=0.03,
        marrowEffectiveHalfLifeH=40.0,
        kidneyRiskFactors=True,
    )
    summary = plan_rlt(p)
    expected = core_plan_rlt(
        [
            StructureInput("kidneys", "oar", 0.6, 40.0),
            StructureInput("red_marrow", "oar", 0.03, 40.0),
        ],
        cycles=4,
        risk_factors=True,
    )
    assert f"{expected.max_activity_per_cycle_GBq:.2f} GBq" in summary
    assert expected.binding_constraint in summary
    back = plan_from_scene(p.rltPlanTable)
    assert back.max_activity_per_cycle_GBq == expected.max_activity_per_cycle_GBq


def test_rlt_button_refuses_a_dose_without_half_life_and_an_empty_panel(mrml):
    with pytest.raises(InputError, match="without an effective half-life"):
        plan_rlt(_panel(scene=mrml.scene, kidneyDoseGyPerGBq=0.6))
    with pytest.raises(InputError, match="no organ at risk"):
        plan_rlt(_panel(scene=mrml.scene))


@pytest.mark.realdata
@pytest.mark.slow
def test_sirt_button_on_the_real_maa_study(mrml, siemens_maa_dir):
    spect = volume_node_from_image(read_image(siemens_maa_dir / "NM"), mrml.scene, "MAA")
    ct_image = read_image(siemens_maa_dir / "CT")
    ct = volume_node_from_image(ct_image, mrml.scene, "CT")
    rt = next((siemens_maa_dir / "RTSTRUCT").iterdir())
    seg = segmentation_node_from_rtstruct(rt, ct_image, mrml.scene, names=["Tumor", "Lung"])
    p = _panel(maaSpectVolume=spect, maaCtVolume=ct, sirtSegmentation=seg, sirtTargetDoseGy=150.0)
    summary = plan_sirt(p)
    assert "GBq 90Y" in summary and "lung shunt fraction" in summary
    assert p.sirtPlanTable.GetNumberOfRows() > 0
    assert p.sirtDoseVolume.GetAttribute("Theranostics.Units") == "Gy"


def test_sirt_button_names_the_missing_input(mrml):
    with pytest.raises(InputError, match="no MAA SPECT selected"):
        plan_sirt(_panel())


def test_metadata_table_round_trip_and_refusal(mrml, synthetic_study_small):
    pet = read_image(synthetic_study_small / "dicom" / "pet_planning" / "PT")
    node = volume_node_from_image(pet, mrml.scene, "PET")
    rows = dict(metadata_rows(node))
    assert rows["Units"] == "Bq/mL" and float(rows["PatientWeightKg"]) == pytest.approx(78.0)
    rows["PatientWeightKg"] = "80.5"
    store_metadata_rows(node, list(rows.items()))
    assert read_metadata(node).patient.weight_kg == 80.5
    rows["PatientWeightKg"] = "eighty"
    with pytest.raises(InvalidTagError, match="PatientWeightKg"):
        store_metadata_rows(node, list(rows.items()))
    assert read_metadata(node).patient.weight_kg == 80.5  # nothing half-written
    rows["PatientWeightKg"] = "80.5"
    rows["Units"] = "furlongs"
    with pytest.raises(InputError, match="furlongs"):
        store_metadata_rows(node, list(rows.items()))
    assert read_metadata(node).quantity.units == "Bq/mL"


def test_lesion_and_response_buttons_on_the_sample_pet(mrml, synthetic_study_small):
    from theranostics.lesions import lesion_biomarkers
    from theranostics.lesions import segment_lesions as core_segment

    pet_image = read_image(synthetic_study_small / "dicom" / "pet_planning" / "PT")
    pet = volume_node_from_image(pet_image, mrml.scene, "PET")
    p = _panel(petVolume=pet)
    table = segment_lesions(p)
    expected = lesion_biomarkers(pet_image, core_segment(pet_image, method="percent-max"))
    assert len(table.lesions) == len(expected.lesions) > 0
    segments = p.lesionSegmentation.GetSegmentation().GetNumberOfSegments()
    assert segments == len(table.lesions)
    assert p.biomarkerTable.GetNumberOfRows() >= len(table.lesions)
    # the same study as baseline and follow-up: stable disease under both frameworks
    p.baselineVolume = p.followupVolume = pet
    p.baselineSegmentation = p.followupSegmentation = p.lesionSegmentation
    result = assess_response(p)
    assert result.percist["category"] == "SMD" and result.recip["category"] == "SD"
    assert p.responseTable.GetNumberOfRows() == len(table.lesions)


def test_lesion_button_needs_a_volume_and_names_the_liver_segment(mrml):
    with pytest.raises(InputError, match="no PET or SPECT"):
        segment_lesions(_panel())
