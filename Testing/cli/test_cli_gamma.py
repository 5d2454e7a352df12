"""CLI: theranostics gamma."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.cli.main import main


def _write(path, arr, spacing=(2.0, 2.0, 2.0)):
    img = sitk.GetImageFromArray(np.asarray(arr, dtype=np.float32))
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return str(path)


def _ramp(shift_mm=0.0):
    x = np.arange(16) * 2.0
    return np.broadcast_to(10 + 0.2 * (x - shift_mm), (16, 16, 16))


def test_gamma_json_and_map(tmp_path, capsys):
    ref = _write(tmp_path / "ref.nrrd", _ramp())
    ev = _write(tmp_path / "ev.nii.gz", _ramp(shift_mm=3.0))
    out = tmp_path / "g" / "gamma.nrrd"
    code = main(
        [
            "gamma",
            ref,
            ev,
            "--dose-percent",
            "3",
            "--dta-mm",
            "3",
            "--json",
            "--cutoff-percent",
            "0",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["evaluated_points"] == 16**3
    assert result["parameters"]["local"] is False
    # interior: closed form a/sqrt(1+a²), a = 0.2·3/(0.03·max); edges may search less
    g = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    a = 0.2 * 3.0 / (0.03 * float(_ramp().max()))
    np.testing.assert_allclose(g[4:-4, 4:-4, 4:-4], a / np.sqrt(1 + a * a), atol=1e-5)
    # the last column (x = 30 mm) would need the dose beyond the evaluated grid (E < R
    # there, and the dose rises towards +x): it fails, every other column passes
    assert result["pass_rate_percent"] == pytest.approx(100.0 * 15 / 16)
    assert np.all(g[:, :, -1] > 1) and np.all(g[:, :, :-1] <= 1)


def test_gamma_text_local(tmp_path, capsys):
    ref = _write(tmp_path / "ref.nrrd", _ramp())
    code = main(["gamma", ref, ref, "--dose-percent", "2", "--dta-mm", "2", "--local"])
    assert code == 0
    text = capsys.readouterr().out
    assert "pass_rate_percent 100.00" in text and "gamma_mean 0.0000" in text
    assert "evaluated_points" in text and "local" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.nrrd", "REF"], "file not found"),
        (["REF", "REF", "--dta-mm", "0"], "--dta-mm is 0"),
        (["REF", "FAR"], "inside the evaluated dose grid"),
    ],
)
def test_gamma_errors(tmp_path, capsys, args, message):
    ref = _write(tmp_path / "ref.nrrd", _ramp())
    far = sitk.ReadImage(ref)
    far.SetOrigin((900.0, 0.0, 0.0))
    sitk.WriteImage(far, str(tmp_path / "far.nrrd"))
    mapping = {"REF": ref, "FAR": str(tmp_path / "far.nrrd")}
    argv = ["gamma"] + [mapping.get(a, a) for a in args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_gamma_refuses_non_dose_units(tmp_path, capsys):
    ref = _write(tmp_path / "ref.nrrd", _ramp())
    spect = _write(tmp_path / "spect.nrrd", _ramp())
    (tmp_path / "spect.json").write_text(
        json.dumps({"schema": "theranostics-sidecar/1", "units": "Bq/mL"})
    )
    assert main(["gamma", ref, spect]) == 2
    assert "Bq/mL" in capsys.readouterr().err
