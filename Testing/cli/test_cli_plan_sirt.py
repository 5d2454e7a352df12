"""``theranostics plan-sirt`` on the real Siemens 99mTc-MAA SPECT/CT study."""

from __future__ import annotations

import csv
import json

import pytest
import SimpleITK as sitk

from theranostics.cli.main import main
from theranostics.io import read_image
from theranostics.planning.sirt import load_plan
from theranostics.planning.sirt_methods import y90_dose_constant_Gy_kg_per_GBq

pytestmark = pytest.mark.realdata


@pytest.mark.slow
def test_plan_sirt_cli_writes_plan_dose_and_table(siemens_maa_dir, tmp_path, capsys):
    out = tmp_path / "plan"
    argv = [
        "plan-sirt",
        str(siemens_maa_dir),
        "--target",
        "Tumor",
        "--lung",
        "Lung",
        "--normal-rest-of-body",
        "--target-tumor-Gy",
        "200",
        "--previous-lung-Gy",
        "10",
        "--json",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "theranostics-plan-sirt/1"
    for key in ("lung_shunt_fraction", "tumor_to_normal_ratio", "recommended_activity_GBq"):
        assert doc[key] is not None
    k = y90_dose_constant_Gy_kg_per_GBq()
    for c in doc["compartments"].values():
        assert 0.0 <= c["fraction"] <= 1.0
        assert c["dose_Gy_per_GBq"] == pytest.approx(k * c["fraction"] / (c["mass_g"] / 1000))
    assert sum(c["fraction"] for c in doc["compartments"].values()) <= 1.0 + 1e-12
    # Tumour target 200 Gy needs ~0.36 GBq, below the lung limits: the target binds.
    assert doc["binding_constraint"] == "target_tumor"
    assert doc["compartments"]["Tumor"]["predicted_dose_Gy"] <= 200.0
    plan = load_plan(out / "plan.json")
    assert plan.recommended_activity_GBq == doc["recommended_activity_GBq"]
    dose = read_image(out / "predicted_dose.nrrd")
    assert dose.meta.quantity.units == "Gy"
    assert dose.meta.administration.nuclide == "Y-90"
    assert dose.image.GetSize() == (128, 128, 80)
    assert sitk.GetArrayViewFromImage(dose.image).max() > 200.0  # hottest tumour voxels
    rows = list(csv.DictReader((out / "plan.csv").open()))
    assert {r["name"] for r in rows} >= {"Tumor", "Lung", "rest of body", "perfused"}


@pytest.mark.slow
def test_plan_sirt_cli_refuses_without_a_normal_compartment(siemens_maa_dir, capsys):
    argv = ["plan-sirt", str(siemens_maa_dir), "--tumor", "Tumor", "--lung", "Lung"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no liver ROI" in err and "--normal-rest-of-body" in err


# ------------------------------------------------------------------------------------------
# From Slicer's files: SPECT volume + .seg.nrrd (real patient 2), planar lung shunt fraction


@pytest.mark.slow
def test_plan_sirt_cli_from_slicer_files(tmp_path, capsys):
    from sirt_nrrd import SEG_2, SPECT_2, sirt_nrrd_dir

    folder = sirt_nrrd_dir()
    out = tmp_path / "plan"
    argv = [
        "plan-sirt",
        str(folder / SPECT_2),
        "--structures",
        str(folder / SEG_2),
        "--tumor",
        "Tumor 1,Tumor 2",
        "--perfused",
        "perfused normal",
        "--lung-shunt-fraction",
        "0.05",
        "--units",
        "counts",
        "--clip-negative",
        "--target-tumor-Gy",
        "150",
        "--json",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["lung_shunt_fraction"] == pytest.approx(0.05)
    assert doc["tumor_to_normal_ratio"] > 2.0
    assert set(doc["compartments"]) == {
        "Tumor 1",
        "Tumor 2",
        "perfused normal",
        "lung (planar LSF)",
    }
    assert doc["compartments"]["Tumor 1"]["tissue"] == "tumor"
    assert doc["inputs"]["context"]["normal_role"] == "perfused"
    assert load_plan(out / "plan.json").recommended_activity_GBq == doc["recommended_activity_GBq"]
    dose = sitk.ReadImage(str(out / "predicted_dose.nrrd"))
    assert dose.GetDirection()[8] == -1.0  # on the SPECT grid, third axis to -z
    # ambiguous normal compartment and missing lung information are named errors (exit 2)
    assert main([*argv[:6], "--lung-shunt-fraction", "0.05", "--units", "counts"]) == 2
    assert "several segments could be it" in capsys.readouterr().err
    assert main([*argv[:8], "--units", "counts", "--clip-negative"]) == 2
    assert "--lung-shunt-fraction" in capsys.readouterr().err
