"""RLT plan JSON round trip and tampering; refusals of bad input; import of an earlier cycle's
dosimetry result; the PET scaling model."""

from __future__ import annotations

import json
import math

import pytest

from theranostics import __version__
from theranostics.errors import InputError, UnitsError
from theranostics.planning.pet_scaling import (
    PetScalingCoefficient,
    calibrate_from_previous_cycle,
    predict_from_pet,
)
from theranostics.planning.plan_io import load_plan, plan_to_dict, save_plan
from theranostics.planning.rlt import SCHEMA, plan_rlt
from theranostics.planning.rlt_inputs import StructureInput, structures_from_dosimetry


def _plan(**kw):
    return plan_rlt(
        [
            StructureInput("kidney_left", "oar", 0.6, 40.0, 0.1, 5.0, previous_bed_Gy=8.0),
            StructureInput("Bone Marrow", "oar", 0.03, 40.0, 0.005, uptake_half_life_h=1.0),
            StructureInput("lesion_01", "lesion", 5.0, 70.0, 1.0, 10.0),
        ],
        **kw,
    )


def test_round_trip_equality_and_content(tmp_path):
    plan = _plan(cycles=4)
    path = save_plan(tmp_path / "sub" / "plan.json", plan)
    assert load_plan(path) == plan
    doc = json.loads(path.read_text())
    assert doc["schema"] == SCHEMA and doc["software_version"] == __version__
    assert doc["created"] and doc["assumptions"] and doc["references"]
    assert doc["inputs"][0]["dose_per_activity_Gy_per_GBq"] == 0.6
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["plan.json"]  # no temp left
    searched = _plan(max_cycles=3)
    assert load_plan(save_plan(tmp_path / "p2.json", searched)) == searched


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: d.update(schema="theranostics-plan-sirt/1"), "schema"),
        (lambda d: d.pop("binding_constraint"), "missing fields"),
        (lambda d: d.update(surprise=1), "unknown fields"),
        (lambda d: d.update(max_activity_per_cycle_GBq=50.0), "altered"),
        (lambda d: d["structures"][0].update(absorbed_dose_per_cycle_Gy=1.0), "altered"),
        (lambda d: d.update(binding_constraint="liver"), "altered"),
        (lambda d: d["structures"][0].update(margin_Gy="plenty"), "wrong type"),
    ],
)
def test_tampered_plan_is_refused(tmp_path, edit, words):
    doc = plan_to_dict(_plan(cycles=4))
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=words) as info:
        load_plan(path)
    assert str(path) in str(info.value)


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_plan(bad)
    with pytest.raises(InputError, match="not found"):
        load_plan(tmp_path / "none.json")


K = dict(category="oar", effective_half_life_h=40.0)


@pytest.mark.parametrize(
    "structure, error, words",
    [
        (StructureInput("kidney", "oar", float("nan"), 40.0), InputError, "kidney.dose_per"),
        (StructureInput("kidney", "oar", -0.6, 40.0), InputError, "kidney.dose_per"),
        (StructureInput("kidney", "oar", None, 40.0), InputError, "missing"),
        (StructureInput("kidney", "oar", 0.6, 0.0), InputError, "effective_half_life_h"),
        (StructureInput("kidney", "oar", 0.0006, 40.0), UnitsError, "Gy/MBq"),
        (StructureInput("kidney", "oar", 4.4, 40.0), UnitsError, "Gy per cycle"),
        (StructureInput("kidney", "oar", 0.6, 0.7), UnitsError, "below 1 h"),
        (StructureInput("kidney", "oar", 0.6, 400.0), UnitsError, "physical half-life"),
        (StructureInput("kidney", "organ", 0.6, 40.0), InputError, "category"),
        (StructureInput("kidney", "oar", 0.6, 40.0, uptake_half_life_h=50), InputError, "uptake"),
        (StructureInput("kidney", "oar", 0.6, 40.0, previous_bed_Gy=-1), InputError, "previous"),
        (StructureInput("spleen", "oar", 0.1, 40.0), InputError, "unknown tissue"),
    ],
)
def test_bad_structure_is_refused_naming_it(structure, error, words):
    with pytest.raises(error, match=words):
        plan_rlt([structure, StructureInput("red_marrow", "oar", 0.03, 40.0)], cycles=2)


def test_bad_options_are_refused():
    k = StructureInput("kidney", "oar", 0.6, 40.0)
    with pytest.raises(InputError, match="not a planned structure"):
        plan_rlt([k], cycles=2, alpha_beta_Gy={"kidny": 3})
    with pytest.raises(InputError, match="lesion"):
        plan_rlt([k, StructureInput("l1", "lesion", 3, 60)], limit_bed_Gy={"l1": 100})
    with pytest.raises(InputError, match="nothing bounds"):
        plan_rlt([StructureInput("parotid", "oar", 0.6, 40.0)], cycles=2)
    with pytest.raises(InputError, match="twice"):
        plan_rlt([k, StructureInput("Kidney", "oar", 0.5, 40.0)])
    with pytest.raises(InputError, match="cycles"):
        plan_rlt([k], cycles=0)
    with pytest.raises(InputError, match="repair half-time"):
        plan_rlt([StructureInput("spleen", "oar", 0.1, 40)], alpha_beta_Gy={"spleen": 3})
    with pytest.raises(InputError, match="alpha_beta_Gy"):
        plan_rlt([k], alpha_beta_Gy={"kidney": -2})
    # With the check disabled an implausible (but physical) value is planned.
    assert plan_rlt([StructureInput("kidney", "oar", 4.4, 40)], cycles=1, check_plausibility=False)


def _results(tmp_path, **over):
    doc = {
        "schema": "theranostics-dosimetry/1",
        "software_version": "0.1.0",
        "nuclide": "Lu-177",
        "administered_activity_MBq": 7400.0,
        "administration_datetime": "2024-03-12T09:30:00",
        "structures": {
            "kidney_left": {"category": "organ", "mass_g": 152.0, "mean_dose_Gy": 4.44,
                            "mean_dose_uncertainty_Gy": 0.44, "effective_half_life_h": 36.0,
                            "bed_Gy": 5.1, "dose_per_activity_Gy_per_GBq": 0.6},
            "red_marrow": {"category": "organ", "mean_dose_Gy": 0.222,
                           "effective_half_life_h": 40.0, "bed_Gy": 0.223},
            "spleen": {"category": "organ", "mean_dose_Gy": 0.7, "effective_half_life_h": 50.0,
                       "bed_Gy": 0.75},
            "lesion_01": {"category": "lesion", "mean_dose_Gy": 37.0,
                          "effective_half_life_h": 70.0, "bed_Gy": 40.0},
        },
    }  # fmt: skip
    for name, fields in over.items():
        doc["structures"][name].update(fields)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    return path


def test_structures_from_dosimetry(tmp_path):
    got = structures_from_dosimetry(_results(tmp_path))
    by = {s.name: s for s in got.structures}
    assert set(by) == {"kidney_left", "red_marrow", "lesion_01"}
    assert any("spleen" in n for n in got.notes)
    k = by["kidney_left"]
    assert k.dose_per_activity_Gy_per_GBq == pytest.approx(0.6)
    assert k.dose_per_activity_sd_Gy_per_GBq == pytest.approx(0.44 / 7.4)
    assert k.previous_bed_Gy == 5.1 and k.previous_dose_Gy == 4.44
    # u(BED) = u(D)·(2·BED/D − 1) to first order.
    assert k.previous_bed_sd_Gy == pytest.approx(0.44 * (2 * 5.1 / 4.44 - 1))
    assert by["lesion_01"].category == "lesion"
    kept = structures_from_dosimetry(_results(tmp_path), keep=("spleen",))
    assert "spleen" in {s.name for s in kept.structures}
    plan = plan_rlt(got.structures, cycles=3)
    assert plan.structure("kidney_left").cumulative_bed_Gy == pytest.approx(
        5.1 + 3 * plan.structure("kidney_left").bed_per_cycle_Gy
    )
    # Marrow: previous absorbed dose counts toward its 2 Gy absorbed-dose limit.
    marrow = plan.structure("red_marrow")
    assert marrow.cumulative_absorbed_dose_Gy == pytest.approx(
        0.222 + 3 * marrow.absorbed_dose_per_cycle_Gy
    )


def test_dosimetry_contradictions_are_refused(tmp_path):
    with pytest.raises(InputError, match="contradicts"):
        structures_from_dosimetry(
            _results(tmp_path, kidney_left={"dose_per_activity_Gy_per_GBq": 0.9})
        )
    with pytest.raises(InputError, match="effective_half_life_h is missing"):
        structures_from_dosimetry(_results(tmp_path, red_marrow={"effective_half_life_h": None}))
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(InputError, match="schema"):
        structures_from_dosimetry(bad)


def test_pet_scaling_predicts_and_calibrates():
    coefficients = {
        "kidney": PetScalingCoefficient("kidney", 0.02, 0.5, "SUVmean", "user"),
        "lesion_01": PetScalingCoefficient("lesion_01", 0.4, 0.5, "SUVmean", "user"),
    }
    inputs = predict_from_pet(
        {"kidney": 30.0, "lesion_01": 12.0},
        coefficients,
        {"kidney": (40.0, 8.0), "lesion_01": (70.0, 15.0)},
        {"kidney": "oar", "lesion_01": "lesion"},
        metric_relative_sd=0.1,
    )
    k = inputs[0]
    assert k.dose_per_activity_Gy_per_GBq == pytest.approx(0.6)
    assert k.dose_per_activity_sd_Gy_per_GBq == pytest.approx(0.6 * math.hypot(0.5, 0.1))
    assert "pet-scaling" in k.source
    with pytest.raises(InputError, match="has no scaling coefficient"):
        predict_from_pet({"parotid": 10.0}, coefficients, {}, {})
    # Calibrated on cycle 1 (d = 0.6 Gy/GBq at SUVmean 30), a PET with SUVmean 24 before the
    # next cycle predicts 0.48 Gy/GBq: the model is linear through the origin.
    cal = calibrate_from_previous_cycle({"kidney": (0.6, 0.06)}, {"kidney": 30.0})
    assert cal["kidney"].gy_per_gbq_per_unit == pytest.approx(0.02)
    assert cal["kidney"].relative_sd == pytest.approx(math.hypot(0.1, 0.3))
    again = predict_from_pet({"kidney": 24.0}, cal, {"kidney": (40.0, 5.0)}, {"kidney": "oar"})
    assert again[0].dose_per_activity_Gy_per_GBq == pytest.approx(0.48)
