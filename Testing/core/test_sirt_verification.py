"""Predicted (MAA) versus delivered (90Y) SIRT dose on a synthetic pair: registration,
per-compartment differences, DVH comparison and gamma through the 177Lu verification code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from sirt_nrrd import write_y90_phantom

from theranostics.cli.main import main
from theranostics.errors import InputError
from theranostics.io.slicer_files import read_volume
from theranostics.workflows.sirt_dosimetry import sirt_dosimetry
from theranostics.workflows.sirt_verification import compare_predicted_delivered


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    pet, seg = write_y90_phantom(folder, values=lambda a: ndimage.gaussian_filter(a, 1.5))
    image = read_volume(pet, overrides={"units": "Bq/mL", "nuclide": "Y-90"})
    return sirt_dosimetry(image, seg, decay_corrected_to_implantation=True), folder


def _copy(image: sitk.Image, *, scale=1.0, shift_mm=(0.0, 0.0, 0.0)) -> sitk.Image:
    out = sitk.GetImageFromArray(sitk.GetArrayFromImage(image) * scale)
    out.CopyInformation(image)
    out.SetOrigin(tuple(o + s for o, s in zip(image.GetOrigin(), shift_mm, strict=True)))
    return out


def test_same_map_agrees_everywhere(delivered):
    result, _ = delivered
    cmp = compare_predicted_delivered(_copy(result.dose.image), result)
    for row in cmp.structures.rows:
        assert row["difference_Gy"] == pytest.approx(0.0, abs=1e-4)
    assert cmp.gamma.pass_rate_percent == 100.0
    assert cmp.tolerance_table.deviations == []


def test_scaled_prediction_gives_the_relative_difference(delivered):
    result, _ = delivered
    cmp = compare_predicted_delivered(_copy(result.dose.image, scale=0.8), result)
    for row in cmp.structures.rows:
        assert row["relative_difference_percent"] == pytest.approx(25.0, rel=1e-4)
        assert row["within_tolerance"] is False  # beyond the organ 10 % / lesion 20 %
    d50 = cmp.dvhs["Tumor 1"]["metrics"]["D50_Gy"]
    assert d50["relative_difference_percent"] == pytest.approx(25.0, rel=1e-3)
    # in this smooth map a 3 mm distance-to-agreement absorbs a 20 % scale (gamma passes),
    # but gamma is no longer 0
    assert cmp.gamma.gamma_mean > 0.2
    doc = cmp.to_json()
    assert doc["tolerance_table"]["deviations"] > 0
    json.dumps(doc)  # JSON-ready


def test_rigid_registration_recovers_a_shift(delivered):
    result, _ = delivered
    shift = (4.0, -3.0, 2.0)
    moved = _copy(result.dose.image, shift_mm=shift)
    plain = compare_predicted_delivered(moved, result)
    registered = compare_predicted_delivered(moved, result, register="rigid")
    assert registered.registration["translation_mm"] == pytest.approx(shift, abs=0.5)
    assert registered.gamma.pass_rate_percent > 95.0
    assert registered.gamma.pass_rate_percent > plain.gamma.pass_rate_percent + 10
    tumour = {r["structure"]: r for r in registered.structures.rows}["Tumor 1"]
    assert abs(tumour["relative_difference_percent"]) < 5.0
    # a known transform does the same without optimisation
    known = sitk.TranslationTransform(3, shift)
    given = compare_predicted_delivered(moved, result, transform=known)
    assert given.gamma.pass_rate_percent == pytest.approx(100.0, abs=0.5)
    with pytest.raises(InputError, match="registration"):
        compare_predicted_delivered(moved, result, register="affine")


def test_cli_planned_dose_comparison_in_report(delivered, tmp_path, capsys):
    result, folder = delivered
    planned = tmp_path / "predicted_dose.nrrd"
    sitk.WriteImage(_copy(result.dose.image, scale=0.9), str(planned))
    out = tmp_path / "out"
    argv = ["sirt-dosimetry", str(folder / "pet.nrrd"), "--structures"]
    argv += [str(folder / "seg.seg.nrrd"), "--units", "Bq/mL", "--nuclide", "Y-90"]
    argv += ["--decay-corrected-to-implantation", "--planned-dose", str(planned)]
    argv += ["--json", "-o", str(out)]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["structure"]: r for r in doc["comparison"]["structures"]["rows"]}
    assert rows["Liver"]["relative_difference_percent"] == pytest.approx(100 / 9, rel=1e-3)
    html = (out / "report.html").read_text()
    assert "Predicted (MAA) versus delivered" in html and "Gamma" in html
    diff = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "dose_difference.nrrd")))
    dose = sitk.GetArrayFromImage(result.dose.image)
    assert np.allclose(diff, 0.1 * dose, atol=1e-4 * dose.max())
