"""The synthetic patient study (``--size small``): it reads back through the project's own
ingest and SimpleITK, the NM files pass dciodvfy, the truth is self-consistent, and the
output is deterministic for a seed."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import integrate

from theranostics.nuclides import get_nuclide
from theranostics.phantom.generate import PhantomConfig, generate_study

LU = get_nuclide("Lu-177")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("phantom") / "study"
    truth = generate_study(out, PhantomConfig(seed=11, size="small"))
    return out, truth


def _model_MBq(region: dict, a0: float, t: float) -> float:
    """A region's activity from its kinetic parameters, written out here independently."""
    kin = region["kinetics"]
    value = sum(w["fraction"] * math.exp(-math.log(2) / w["t_eff_h"] * t) for w in kin["washout"])
    if kin["uptake_half_life_h"]:
        mu_u = math.log(2) / kin["uptake_half_life_h"] + LU.decay_constant_per_h
        value -= sum(w["fraction"] for w in kin["washout"]) * math.exp(-mu_u * t)
    return a0 * value


def test_layout_and_name_table(study):
    out, truth = study
    names = json.loads((out / "truth" / "labels.json").read_text())
    assert set(names.values()) == set(truth["regions"])
    for required in (
        "kidney_left",
        "kidney_right",
        "liver",
        "spleen",
        "parotid_left",
        "parotid_right",
        "submandibular_left",
        "submandibular_right",
        "bladder",
        "red_marrow",
    ):
        assert required in truth["regions"]
    lesions = [n for n in truth["regions"] if n.startswith("lesion_")]
    assert 5 <= len(lesions) <= 10
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "truth" / "labels.nrrd")))
    for value, name in names.items():
        voxels = int(np.count_nonzero(labels == int(value)))
        assert voxels == truth["regions"][name]["voxels"] > 0
    seg = pydicom.dcmread(out / "truth" / "structures_seg.dcm")
    assert [s.SegmentLabel for s in seg.SegmentSequence] == [
        names[k] for k in sorted(names, key=int)
    ]


def test_truth_activity_maps_sum_to_the_kinetic_model(study):
    out, truth = study
    a0 = truth["administration"]["activity_MBq"]
    for tp in truth["time_points"]:
        image = sitk.ReadImage(str(out / tp["files"]["truth_activity"]))
        voxel_mL = float(np.prod(image.GetSpacing())) / 1000.0
        total_MBq = float(sitk.GetArrayFromImage(image).astype(np.float64).sum()) * voxel_mL / 1e6
        model = sum(_model_MBq(r, a0, tp["time_h"]) for r in truth["regions"].values())
        assert total_MBq == pytest.approx(model, rel=1e-3)
        assert model <= a0 * math.exp(-LU.decay_constant_per_h * tp["time_h"])


def test_tia_matches_numerical_integration(study):
    _, truth = study
    a0 = truth["administration"]["activity_MBq"]
    for name, region in truth["regions"].items():
        numeric, _ = integrate.quad(lambda t, r=region: _model_MBq(r, a0, t), 0, np.inf, limit=500)
        assert region["tia_MBq_h"] == pytest.approx(numeric, rel=1e-3), name
        energy_MeV = truth["dose_model"]["mean_energy_MeV_per_decay"]
        assert energy_MeV == pytest.approx(0.14792, abs=1e-5)  # ICRP 107, 177Lu electrons
        energy_J = energy_MeV * 1.602176634e-13
        dose = region["tia_MBq_h"] * 3.6e9 * energy_J / (region["mass_g"] / 1000.0)
        assert region["mean_dose_Gy"] == pytest.approx(dose, rel=1e-9)


def test_spect_reads_back_through_ingest(study):
    from theranostics.io import read_image

    out, truth = study
    admin = datetime.fromisoformat(truth["administration"]["datetime"])
    grid = truth["grids"]["spect_pet_and_activity"]
    cal = truth["spect"]["calibration_cps_per_MBq"]
    for tp in truth["time_points"]:
        img = read_image(out / tp["files"]["nm"])
        meta = img.meta
        assert meta.modality == "NM"
        assert meta.administration.nuclide == "Lu-177"
        assert meta.administration.activity_MBq == pytest.approx(7400.0)
        assert meta.administration.datetime == admin
        assert meta.acquisition.start == admin + timedelta(hours=tp["time_h"])
        assert meta.acquisition.duration_s == pytest.approx(tp["duration_s"])
        assert meta.quantity.units == "counts"
        assert meta.quantity.decay_correction == "NONE"
        assert img.size == tuple(grid["size"])
        np.testing.assert_allclose(img.spacing_mm, grid["spacing_mm"])
        np.testing.assert_allclose(img.image.GetOrigin(), grid["origin_mm"], atol=1e-3)
        np.testing.assert_allclose(np.array(img.image.GetDirection()), np.eye(3).ravel())
        counts = img.array().astype(np.float64)
        # counts = Poisson(cal x activity integrated over the acquisition), not decay corrected
        expected = cal * sum(tp["region_integral_over_acquisition_MBq_s"].values())
        assert counts.sum() == pytest.approx(expected, rel=0.01)
        assert counts.sum() == tp["measured_total_counts"]


def test_ct_body_moves_by_the_stated_rigid_motion(study):
    from theranostics.io import read_image

    out, truth = study

    def body_centroid(tp: dict) -> np.ndarray:
        ct = read_image(out / tp["files"]["ct"])
        idx = np.array(np.nonzero(ct.array() > -500)).T[:, ::-1].astype(float)  # (i, j, k)
        origin = np.array(ct.image.GetOrigin())
        return origin + idx.mean(axis=0) * np.array(ct.spacing_mm)

    first, second = truth["time_points"][:2]
    assert first["motion"]["translation_mm"] == [0.0, 0.0, 0.0]
    motion = second["motion"]
    centre = np.array(motion["centre_mm"])
    c0 = body_centroid(first)
    predicted = np.array(motion["matrix"]) @ (c0 - centre) + centre + motion["translation_mm"]
    moved = body_centroid(second)
    assert np.linalg.norm(moved - c0) > 1.0  # the patient did move
    np.testing.assert_allclose(moved, predicted, atol=1.0)


def test_pet_reads_back_with_suv_tags(study):
    from theranostics.io import read_image

    out, truth = study
    img = read_image(out / truth["pet"]["files"]["pt"])
    meta = img.meta
    assert meta.modality == "PT"
    assert meta.administration.nuclide == "Ga-68"
    assert meta.administration.activity_MBq == pytest.approx(truth["pet"]["activity_MBq"])
    assert meta.administration.datetime == datetime.fromisoformat(
        truth["pet"]["administration_datetime"]
    )
    assert meta.acquisition.start == datetime.fromisoformat(truth["pet"]["acquisition_start"])
    assert meta.quantity.units == "Bq/mL"
    assert meta.quantity.decay_correction == "START"
    assert meta.patient.weight_kg == pytest.approx(truth["patient"]["weight_kg"])
    # total activity in the PET matches the kinetic model at the scan (within noise and blur)
    total_MBq = img.array().astype(float).sum() * img.voxel_volume_mL / 1e6
    model = sum(r["pet_activity_MBq"] for r in truth["regions"].values())
    assert total_MBq == pytest.approx(model, rel=0.02)


def test_simpleitk_reads_the_ct(study):
    out, truth = study
    folder = out / truth["time_points"][0]["files"]["ct"]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    ct = reader.Execute()
    grid = truth["grids"]["ct_and_labels"]
    assert ct.GetSize() == tuple(grid["size"])
    np.testing.assert_allclose(ct.GetSpacing(), grid["spacing_mm"], atol=1e-4)
    np.testing.assert_allclose(ct.GetOrigin(), grid["origin_mm"], atol=1e-3)
    hu = sitk.GetArrayFromImage(ct)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "truth" / "labels.nrrd")))
    liver = truth["regions"]["liver"]["label"]
    lung = truth["regions"]["lung_left"]["label"]
    assert np.median(hu[labels == liver]) == pytest.approx(60, abs=5)
    assert np.median(hu[labels == lung]) == pytest.approx(-800, abs=10)
    assert np.median(hu[labels == 0]) == pytest.approx(-1000, abs=5)


@pytest.mark.skipif(
    shutil.which("dciodvfy") is None,
    reason="dciodvfy not on PATH (install the Debian package dicom3tools)",
)
def test_dicom_files_pass_dciodvfy(study):
    out, truth = study
    files = [out / tp["files"]["nm"] for tp in truth["time_points"]]
    files += [
        next((out / truth["time_points"][0]["files"]["ct"]).glob("*.dcm")),
        next((out / truth["pet"]["files"]["pt"]).glob("*.dcm")),
        out / "truth" / "structures_seg.dcm",
    ]
    for path in files:
        result = subprocess.run(
            ["dciodvfy", str(path)], capture_output=True, text=True, check=False
        )
        errors = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("Error")
        ]
        assert not errors, f"{path.name}: {errors}"


def _pixels(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): pydicom.dcmread(p).PixelData
        for p in sorted(folder.rglob("*.dcm"))
    }


def test_same_seed_same_bytes_different_seed_different_noise(tmp_path):
    config = PhantomConfig(seed=5, size="small", time_points_h=(24.0,))
    a = tmp_path / "a"
    b = tmp_path / "b"
    c = tmp_path / "c"
    generate_study(a, config)
    generate_study(b, config)
    generate_study(c, PhantomConfig(seed=6, size="small", time_points_h=(24.0,)))
    pa, pb = _pixels(a / "dicom"), _pixels(b / "dicom")
    assert pa == pb
    for path in sorted(a.rglob("*")):  # every file, not only pixel data
        if path.is_file():
            assert path.read_bytes() == (b / path.relative_to(a)).read_bytes(), path
    nm = "spect_024h/NM/NM_0001.dcm"
    assert _pixels(c / "dicom")[nm] != pa[nm]
