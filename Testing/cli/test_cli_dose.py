"""CLI: kernel, sphere-svalue and dose subcommands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.cli.main import main
from theranostics.dose.water import J_PER_MeV


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("THERANOSTICS_CACHE", str(tmp_path / "cache"))


def test_kernel_json(capsys):
    assert main(["kernel", "--nuclide", "Lu-177", "--voxel-mm", "4.8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nuclide"] == "Lu-177" and out["voxel_mm"] == [4.8, 4.8, 4.8]
    assert out["unit"] == "mGy/(MBq*s)"
    assert len(out["values"]) == 125
    centre = out["values"]["0,0,0"]
    # below the local-deposition bound of all 177Lu energy (0.1830 MeV) in 0.1106 g of water
    assert 0 < centre < 0.1830 * J_PER_MeV / (4.8**3 * 1e-6) * 1e9
    assert out["values"]["1,0,0"] == pytest.approx(out["values"]["0,0,-1"])
    assert out["values"]["2,2,2"] < out["values"]["1,0,0"] < centre


def test_kernel_anisotropic_text(capsys):
    assert main(["kernel", "--nuclide", "Y90", "--voxel-mm", "3,3,4", "--no-photons"]) == 0
    text = capsys.readouterr().out
    assert "mGy/(MBq*s)" in text and "  0   0   0" in text


@pytest.mark.parametrize("voxel", ["0", "-1", "4,4", "abc"])
def test_kernel_bad_voxel(voxel, capsys):
    assert main(["kernel", "--nuclide", "Lu-177", "--voxel-mm", voxel]) == 2
    assert "voxel" in capsys.readouterr().err


def test_kernel_unknown_nuclide(capsys):
    assert main(["kernel", "--nuclide", "Xx-1", "--voxel-mm", "4"]) == 2
    assert "nuclide" in capsys.readouterr().err


def test_sphere_svalue(capsys):
    assert main(["sphere-svalue", "--nuclide", "Lu-177", "--mass-g", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # S·m of a 10 g sphere: between the electron energy (most of it absorbed) and all energy.
    sm = out["s_value_mGy_per_MBq_s"] * 10.0 / 1e12 / J_PER_MeV  # MeV per decay
    assert 0.95 * 0.14792 < sm < 0.14792 + 0.0351


def _write(tmp_path, name, arr, spacing=(4.0, 4.0, 4.0)):
    img = sitk.GetImageFromArray(np.asarray(arr, dtype=np.float32))
    img.SetSpacing(spacing)
    path = tmp_path / name
    sitk.WriteImage(img, str(path))
    return path


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_dose_led_closed_form(tmp_path, suffix):
    tia = np.zeros((6, 6, 6))
    tia[3, 3, 3] = 5.0  # MBq·h
    src = _write(tmp_path, f"tia{suffix}", tia)
    before = src.read_bytes()
    out = tmp_path / f"dose{suffix}"
    code = main(["dose", "--tia", str(src), "--nuclide", "Y-90", "--method", "led", "-o", str(out)])
    assert code == 0
    dose = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    expected = 5.0 * 3.6e9 * 0.93311 * J_PER_MeV / (64e-6)  # D = Ã E / m
    assert dose[3, 3, 3] == pytest.approx(expected, rel=1e-4)
    assert src.read_bytes() == before  # input untouched
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dose")]


def test_dose_kernel_and_errors(tmp_path, capsys):
    tia = np.zeros((6, 6, 6))
    tia[2:4, 2:4, 2:4] = 1.0
    src = _write(tmp_path, "tia.nrrd", tia)
    out = tmp_path / "dose.nrrd"
    assert main(["dose", "--tia", str(src), "--nuclide", "Lu-177", "-o", str(out)]) == 0
    assert sitk.ReadImage(str(out)).GetSize() == (6, 6, 6)
    tia[0, 0, 0] = np.nan
    bad = _write(tmp_path, "bad.nrrd", tia)
    assert main(["dose", "--tia", str(bad), "--nuclide", "Lu-177", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "NaN" in err and "bad.nrrd" in err
    far_ct = sitk.GetImageFromArray(np.zeros((4, 4, 4), dtype=np.int16))
    far_ct.SetOrigin((900.0, 900.0, 900.0))
    ct_path = tmp_path / "ct.nrrd"
    sitk.WriteImage(far_ct, str(ct_path))
    code = main(
        ["dose", "--tia", str(src), "--nuclide", "Lu-177", "--ct", str(ct_path), "-o", str(out)]
    )
    assert code == 2
    assert "overlap" in capsys.readouterr().err
