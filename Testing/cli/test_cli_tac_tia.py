"""CLI: ``theranostics tac`` and ``theranostics tia`` on the small synthetic study.

End to end through DICOM reading, CT registration, masks, fits and the sidecar writer; the
accuracy claims are made on the standard study in ``Testing/core/test_tac_workflow.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.cli.main import main
from theranostics.kinetics.models import MODEL_NAMES

pytestmark = pytest.mark.slow

ORGANS = ("kidney_left", "liver", "spleen")


def truth(study) -> dict:
    return json.loads((study / "truth" / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def tac_json(synthetic_study_small, tmp_path_factory):
    """``tac --json`` and ``-o`` of the small study (run once for the module)."""
    record = tmp_path_factory.mktemp("tac") / "record.json"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "tac",
                str(synthetic_study_small),
                "--masks",
                str(synthetic_study_small / "truth" / "labels.nrrd"),
                "--calibration-cps-per-MBq",
                "10",
                "--psf-fwhm-mm",
                "12",
                "--calibration-rel-sd",
                "0.05",
                "--json",
                "-o",
                str(record),
            ]
        )
    assert code == 0
    return json.loads(out.getvalue()), json.loads(record.read_text())


def test_tac_json_has_the_documented_keys(tac_json, synthetic_study_small):
    summary, record = tac_json
    gt = truth(synthetic_study_small)
    times = [tp["time_h"] for tp in gt["time_points"]]
    assert list(summary) == list(gt["regions"])
    for name, entry in summary.items():
        for key in ("tia_MBq_h", "tia_uncertainty_MBq_h", "model", "times_h", "activities_MBq"):
            assert key in entry, (name, key)
        assert entry["model"] in MODEL_NAMES
        np.testing.assert_allclose(entry["times_h"], times, atol=1e-6)
        assert len(entry["activities_MBq"]) == len(times)
    for organ in ORGANS:
        entry = summary[organ]
        # The budget includes the 5 % calibration uncertainty.
        assert entry["tia_uncertainty_MBq_h"] >= 0.05 * entry["tia_MBq_h"]
        # Small study (9.6 mm SPECT), GTM-corrected: organs within 10 % of the truth.
        assert entry["tia_MBq_h"] == pytest.approx(gt["regions"][organ]["tia_MBq_h"], rel=0.10)
    assert record["parameters"]["psf_fwhm_mm"] == 12.0
    assert record["timing_s"]["total_s"] > 0
    assert len(record["registration"]) == len(times)


def test_tac_table_and_errors(synthetic_study_small, tmp_path, capsys):
    labels = synthetic_study_small / "truth" / "labels.nrrd"
    args = ["tac", str(synthetic_study_small), "--masks", str(labels), "--no-registration"]
    assert main([*args, "--calibration-cps-per-MBq", "10", "--structures", "liver,spleen"]) == 0
    out = capsys.readouterr().out
    assert "TIA MBq·h" in out and "liver" in out and "spleen" in out
    assert "kidney_left" not in out

    # Masks that miss the image: a label map 2 m away.
    image = sitk.ReadImage(str(labels))
    image.SetOrigin([o + 2000.0 for o in image.GetOrigin()])
    far = tmp_path / "far.nrrd"
    sitk.WriteImage(image, str(far))
    (tmp_path / "far.json").write_text((labels.parent / "labels.json").read_text())
    code = main(["tac", str(synthetic_study_small), "--masks", str(far), "--no-registration",
                 "--calibration-cps-per-MBq", "10"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "far.nrrd" in err and "does not overlap" in err

    # Count images without a calibration factor.
    assert main(["tac", str(synthetic_study_small), "--masks", str(labels)]) == 2
    assert "calibration" in capsys.readouterr().err.lower()


def test_tia_map_with_sidecar_and_fallback_mask(synthetic_study_small, tmp_path, capsys):
    from theranostics.io import read_image

    out = tmp_path / "tia.nrrd"
    fallback = tmp_path / "fallback.nrrd"
    code = main(
        [
            "tia",
            str(synthetic_study_small),
            "-o",
            str(out),
            "--fallback-mask",
            str(fallback),
            "--calibration-cps-per-MBq",
            "10",
        ]
    )
    assert code == 0
    assert "MBq*h" in capsys.readouterr().out
    tia = read_image(out)
    assert tia.meta.quantity.units == "MBq*h"
    assert json.loads((tmp_path / "tia.json").read_text())["units"] == "MBq*h"
    values = sitk.GetArrayFromImage(tia.image)
    assert np.all(np.isfinite(values)) and values.min() >= 0
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(fallback)))
    assert mask.shape == values.shape and set(np.unique(mask)) <= {0, 1}
    # The whole map holds about the whole-body TIA the study saw (no partial-volume loss in
    # a sum over everything): within 10 % of the truth's total over all regions.
    total_truth = sum(r["tia_MBq_h"] for r in truth(synthetic_study_small)["regions"].values())
    assert values.sum() == pytest.approx(total_truth, rel=0.10)
