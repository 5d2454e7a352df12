"""``theranostics plan-rlt`` through ``theranostics.cli.main.main``."""

from __future__ import annotations

import json
import math

import pytest

from theranostics.cli.main import main
from theranostics.planning.plan_io import load_plan


def _run(capsys, *argv):
    code = main(["plan-rlt", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_has_the_documented_fields(capsys, tmp_path):
    code, out, _ = _run(
        capsys,
        "--oar", "kidney:0.6:40:0.12:8", "--oar", "red_marrow:0.03:40",
        "--lesion", "lesion_01:5:70", "--cycles", "4", "--json", "-o", str(tmp_path / "p.json"),
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["cycles"] == 4 and doc["binding_constraint"] == "kidney"
    # Closed form (Dale 1985): 4(x + κx²) = 40 Gy, κ = (2.8/42.8)/2.6, A = x/0.6, rounded down.
    kappa = (2.8 / 42.8) / 2.6
    x = (-1 + math.sqrt(1 + 4 * kappa * 10)) / (2 * kappa)
    assert doc["max_activity_per_cycle_GBq"] == math.floor(x / 0.6 * 100) / 100
    by = {s["name"]: s for s in doc["structures"]}
    for s in by.values():
        assert {"cumulative_bed_Gy", "absorbed_dose_Gy"} <= set(s)
    assert by["lesion_01"]["absorbed_dose_Gy"] == pytest.approx(
        4 * 5 * doc["max_activity_per_cycle_GBq"]
    )
    saved = load_plan(tmp_path / "p.json")
    assert saved.max_activity_per_cycle_GBq == doc["max_activity_per_cycle_GBq"]


def test_table_output_and_options(capsys):
    code, out, _ = _run(
        capsys,
        "--oar", "kidney:0.6:40", "--oar", "red_marrow:0.05:40", "--risk-factors",
        "--previous-bed-Gy", "kidney=10", "--alpha-beta", "kidney=2.6", "--repair-h", "kidney=2.8",
    )  # fmt: skip
    assert code == 0
    assert "Binding constraint: kidney" in out and "28 BED" in out
    assert "Cycles:" in out and "at 7.4 GBq" in out


def test_limit_option_makes_parotids_binding(capsys):
    argv = ["--oar", "kidney:0.6:40", "--oar", "parotid:1.5:40", "--cycles", "4", "--json"]
    _, out, _ = _run(capsys, *argv)
    assert json.loads(out)["binding_constraint"] == "kidney"
    _, out, _ = _run(capsys, *argv, "--limit-bed-Gy", "parotid=30")
    assert json.loads(out)["binding_constraint"] == "parotid"


def test_from_dosimetry(capsys, tmp_path):
    results = {
        "schema": "theranostics-dosimetry/1",
        "nuclide": "Lu-177",
        "administered_activity_MBq": 7400.0,
        "structures": {
            "kidney_left": {
                "category": "organ",
                "mean_dose_Gy": 4.44,
                "effective_half_life_h": 36.0,
                "bed_Gy": 5.1,
            },
            "lesion_01": {
                "category": "lesion",
                "mean_dose_Gy": 37.0,
                "effective_half_life_h": 70.0,
                "bed_Gy": 40.0,
            },
        },
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    code, out, _ = _run(capsys, "--from-dosimetry", str(path), "--cycles", "3", "--json")
    assert code == 0
    doc = json.loads(out)
    kidney = next(s for s in doc["structures"] if s["name"] == "kidney_left")
    assert kidney["previous_bed_Gy"] == 5.1
    assert kidney["cumulative_bed_Gy"] <= 40.0 + 1e-9
    assert kidney["dose_per_activity_Gy_per_GBq"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--oar", "kidney:0.6"], "--oar"),
        (["--oar", "kidney:abc:40"], "not a number"),
        (["--oar", "kidney:nan:40"], "kidney.dose_per_activity"),
        (["--oar", "kidney:0.0006:40"], "Gy/MBq"),
        (["--oar", "spleen:0.1:40"], "unknown tissue"),
        (["--oar", "kidney:0.6:40", "--alpha-beta", "kidny=3"], "kidny"),
        (["--oar", "kidney:0.6:40", "--previous-bed-Gy", "liver=3"], "liver"),
        (["--oar", "kidney:0.6:40", "--alpha-beta", "kidney"], "NAME=VALUE"),
        ([], "no structures"),
        (["--from-dosimetry", "/nonexistent/results.json"], "not found"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(capsys, argv, words):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert "theranostics plan-rlt: error:" in err and words in err


def test_previous_beyond_limit_gives_zero_activity(capsys):
    code, out, _ = _run(
        capsys, "--oar", "kidney:0.6:40", "--previous-bed-Gy", "kidney=45", "--json"
    )
    doc = json.loads(out)
    assert code == 0 and doc["max_activity_per_cycle_GBq"] == 0.0 and doc["cycles"] == 0
