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
