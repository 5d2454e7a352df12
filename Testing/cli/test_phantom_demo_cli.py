"""``theranostics phantom`` and ``theranostics demo`` on the small study."""

from __future__ import annotations

import base64
import json
import re

import pytest

from theranostics.cli.main import main


def test_phantom_cli_writes_a_study(tmp_path, capsys):
    out = tmp_path / "study"
    code = main(["phantom", str(out), "--size", "small", "--seed", "3", "--time-points", "24"])
    assert code == 0
    truth = json.loads((out / "truth" / "ground_truth.json").read_text())
    assert truth["config"]["seed"] == 3
    assert [tp["time_h"] for tp in truth["time_points"]] == [24.0]
    assert (out / "dicom" / "spect_024h" / "NM" / "NM_0001.dcm").is_file()
    assert str(out / "truth" / "ground_truth.json") in capsys.readouterr().out
    # a second run into the same folder is refused without --overwrite
    assert main(["phantom", str(out), "--size", "small"]) == 2


@pytest.mark.parametrize("bad", ["0,4", "24,4", "x"])
def test_phantom_cli_rejects_bad_time_points(tmp_path, bad):
    assert main(["phantom", str(tmp_path / "s"), "--size", "small", "--time-points", bad]) == 2


def test_demo_writes_a_self_contained_report(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    assert main(["demo", "--size", "small", "--cache", str(cache), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    summary = json.loads((out / "demo.json").read_text())
    assert summary["stages"]["generate"]["status"] == "ok"
    assert summary["stages"]["ingest"]["status"] == "ok"
    # dosimetry against the truth plan, like with like, one dose per structure
    assert summary["stages"]["dosimetry"]["status"] == "ok"
    res = json.loads((out / "dosimetry" / "results.json").read_text())
    assert res["comparison_resolution"]["mode"] == "matched"
    for name, s in res["structures"].items():
        assert s["dvh"]["mean_Gy"] == pytest.approx(s["mean_dose_Gy"], rel=0.02), name
    dosimetry_html = (out / "dosimetry" / "report.html").read_text()
    assert dosimetry_html.index("Summary") < dosimetry_html.index("Registration quality")
    series = json.loads((out / "series.json").read_text())
    assert sorted({row["modality"] for row in series}) == ["CT", "NM", "PT"]
    # MIPs are inline PNGs (4 truth + 4 SPECT + 1 PET); nothing is loaded from elsewhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 9
    assert all(base64.b64decode(b).startswith(b"\x89PNG\r\n\x1a\n") for b in images)
    assert not re.search(r'(src|href)="(?!data:)', html)
    # the second run reuses the cached study: the generate stage is what decides that (the
    # ingest and dosimetry stages would only repeat the first run's work on the same files)
    from theranostics.demo import STAGES, run_demo
    from theranostics.phantom.generate import PhantomConfig

    generate_only = [s for s in STAGES if s.name == "generate"]
    again = run_demo(out / "again", cache, PhantomConfig(size="small"), stages=generate_only)
    assert "reused the cached study" in again.read_text()
    second = json.loads((out / "again" / "demo.json").read_text())
    assert second["study_dir"] == summary["study_dir"]  # the same cached folder
    assert second["stages"]["generate"]["status"] == "ok"
