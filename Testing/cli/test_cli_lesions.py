"""``theranostics lesions`` and ``theranostics response`` end to end."""

from __future__ import annotations

import csv
import json

import pydicom
import pytest
import SimpleITK as sitk

from theranostics.cli.main import main
from theranostics.io.sidecar import write_image_with_sidecar
from theranostics.lesions.synthetic import Blob, synthetic_pet

A = Blob.sphere("A", (0.0, 0.0, 0.0), 30.0, 9.0)
B = Blob.sphere("B", (60.0, 10.0, 0.0), 10.0, 6.0)
NEW = Blob.sphere("D", (0.0, 50.0, -45.0), 6.0, 6.0)


def write_pet(path, blobs, seed, **kwargs):
    qimage, _ = synthetic_pet(blobs, noise=0.04, seed=seed, **kwargs)
    write_image_with_sidecar(qimage, path)
    return path


@pytest.mark.slow
def test_lesions_on_the_synthetic_pet_study_writes_every_output(synthetic_study_small, tmp_path):
    study = synthetic_study_small
    out = tmp_path / "out"
    code = main(
        [
            "lesions",
            str(study / "dicom" / "pet_planning"),
            "--exclude-organs",
            str(study / "truth" / "labels.nrrd"),
            "--exclusion-margin-mm",
            "8",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "lesions.json").read_text())
    names = json.loads((out / "lesions_labels.json").read_text())
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "lesions_labels.nrrd")))
    rows = list(csv.DictReader((out / "lesions.csv").open()))
    count = len(summary["biomarkers"]["lesions"])
    assert count >= 3 and labels.max() == count == len(names) == len(rows)
    assert summary["segmentation"]["method"] == "percent-max"
    assert "kidney_left" in summary["segmentation"]["parameters"]["excluded_organs"]
    seg = pydicom.dcmread(out / "lesions_seg.dcm")
    assert seg.Modality == "SEG" and len(seg.SegmentSequence) == count
    sr = pydicom.dcmread(out / "lesions_sr.dcm")
    assert sr.Modality == "SR"
    assert float(rows[0]["suv_peak"]) > 3.0


def test_lesions_on_an_image_file_and_its_errors(tmp_path, capsys):
    image = write_pet(tmp_path / "pet.nrrd", [A, B], seed=1)
    out = tmp_path / "out"
    assert main(["lesions", str(image), "--method", "adaptive", "-o", str(out)]) == 0
    summary = json.loads((out / "lesions.json").read_text())
    assert summary["biomarkers"]["total"]["lesion_count"] == 2
    assert "no DICOM SEG/SR: the input is not DICOM" in summary["outputs"]
    no_weight = write_pet(tmp_path / "noweight.nrrd", [A], seed=1, weight_kg=None)
    assert main(["lesions", str(no_weight), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "PatientWeight" in err and "--weight-kg" in err
    assert main(["lesions", str(no_weight), "--weight-kg", "80", "-o", str(tmp_path / "y")]) == 0


def test_response_between_two_images(tmp_path):
    base = write_pet(tmp_path / "base.nrrd", [A, B], seed=1)
    shrunk = Blob.sphere("A", A.centre_lps_mm, 15.0, 9.0)
    follow = write_pet(tmp_path / "follow.nrrd", [shrunk, NEW], seed=2)
    out = tmp_path / "response"
    assert main(["response", str(base), str(follow), "-o", str(out)]) == 0
    result = json.loads((out / "response.json").read_text())
    assert result["percist"]["category"] == "PMD"  # new lesion
    assert result["recip"]["category"] == "SD"  # TTV down >= 30 % with a new lesion
    statuses = sorted(r["status"] for r in csv.DictReader((out / "response.csv").open()))
    assert statuses == ["disappeared", "matched", "new"]
    assert result["registration"] == {"method": "none"}


@pytest.mark.slow
def test_default_lesions_set_physiological_uptake_aside(synthetic_study_small, tmp_path, capsys):
    """Defaults on the small 68Ga-PSMA PET/CT: the CT of the study folder is found, glands,
    kidneys and bladder are set aside (kept in the output with their organ), and an include
    seed reports one of them as a lesion again."""
    pet_dir = synthetic_study_small / "dicom" / "pet_planning"
    out = tmp_path / "out"
    assert main(["lesions", str(pet_dir), "--no-dicom", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "lesions.json").read_text())
    physiology = summary["physiology"]
    assert physiology["organ_source"] == "CT anatomy rules"
    assert physiology["tracer_family"] == "psma"
    assert sorted(physiology["physiological_organs"]) == [
        "bladder", "kidney_left", "kidney_right", "parotid_left", "parotid_right",
        "submandibular_left", "submandibular_right",
    ]  # fmt: skip
    assert "PERCIST" in physiology["floor"]["source"]
    lesions = summary["biomarkers"]["total"]["lesion_count"]
    assert lesions == len(json.loads((out / "lesions_labels.json").read_text()))
    organ_names = json.loads((out / "physiological_labels.json").read_text())
    assert len(organ_names) == 7 and any(n.endswith("kidney_left") for n in organ_names.values())
    kidney = next(p for p in physiology["physiological"] if p["organ"] == "kidney_left")
    seed = ",".join(str(c) for c in kidney["include_seed_lps_mm"])
    assert f"--include-seed {seed}" in printed
    again = tmp_path / "again"
    assert (
        main(["lesions", str(pet_dir), "--no-dicom", "--include-seed", seed, "-o", str(again)]) == 0
    )
    summary = json.loads((again / "lesions.json").read_text())
    assert summary["biomarkers"]["total"]["lesion_count"] == lesions + 1
    assert "kidney_left" not in summary["physiology"]["physiological_organs"]


@pytest.mark.slow
def test_bad_inputs_give_clear_errors_or_a_stated_fallback(synthetic_study_small, tmp_path, capsys):
    from theranostics.io import read_image

    image = write_pet(tmp_path / "pet.nrrd", [A, B], seed=1)
    # PET without CT: stated fallback by default, error when the CT rules are asked for
    assert main(["lesions", str(image), "-o", str(tmp_path / "a")]) == 0
    assert "physiological uptake not recognised" in capsys.readouterr().err
    summary = json.loads((tmp_path / "a" / "lesions.json").read_text())
    assert summary["physiology"]["organ_source"].startswith("none")
    assert main(["lesions", str(image), "--physiology", "ct", "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "needs the CT" in err and "--ct" in err
    assert main(["lesions", str(image), "--physiology", "masks", "-o", str(tmp_path / "c")]) == 2
    assert "--organs" in capsys.readouterr().err
    # a CT that does not overlap the PET
    ct = read_image(synthetic_study_small / "dicom" / "pet_planning" / "CT")
    moved = sitk.Image(ct.image)
    moved.SetOrigin([o + 3000.0 for o in ct.image.GetOrigin()])
    far = tmp_path / "far_ct.nrrd"
    write_image_with_sidecar(type(ct)(moved, ct.meta), far)
    pet_dir = synthetic_study_small / "dicom" / "pet_planning"
    code = main(["lesions", str(pet_dir), "--ct", str(far),
                 "-o", str(tmp_path / "d")])  # fmt: skip
    assert code == 2
    assert "does not overlap" in capsys.readouterr().err


@pytest.mark.slow
def test_response_sets_physiological_uptake_aside_at_both_time_points(
    synthetic_study_small, tmp_path
):
    """The same patient twice (planning PET/CT of the study, read as baseline and follow-up):
    no organ enters the total tumour volume, nothing is new, RECIP SD."""
    pet_dir = str(synthetic_study_small / "dicom" / "pet_planning")
    out = tmp_path / "response"
    assert main(["response", pet_dir, pet_dir, "-o", str(out)]) == 0
    result = json.loads((out / "response.json").read_text())
    for key in ("baseline", "followup"):
        assert result["physiology"][key]["organ_source"] == "CT anatomy rules"
        assert "kidney_left" in result["physiology"][key]["physiological_organs"]
    assert result["recip"]["category"] == "SD" and result["recip"]["new_lesions"] == 0
    # true lesions hold about 105 mL; kidneys and bladder alone would add about 500 mL
    recip = result["recip"]
    assert recip["baseline_ttv_mL"] == recip["followup_ttv_mL"] < 250.0
