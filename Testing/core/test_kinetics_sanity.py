"""Physics sanity of kinetics results: no structure integrates more activity than the
administration can give (A0 x T1/2 / ln 2), curves that contradict their model or the
acquisition order are flagged, and session names that contradict the acquisition times too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theranostics.cli.main import main
from theranostics.errors import PhysicsError
from theranostics.kinetics.fit import fit_tac
from theranostics.kinetics.tac import StructureTac
from theranostics.workflows.kinetics import (
    TIA_BOUND_FACTOR,
    StructureKinetics,
    tac_shape_notes,
    tia_bound_notes,
)

LU177_H = 6.647 * 24.0


def test_tia_bound_is_the_physical_mean_life():
    bound = 7400.0 * LU177_H / math.log(2.0)
    assert tia_bound_notes({"kidney": 0.5 * bound}, 7400.0, LU177_H) == []
    # two structures together over the bound (overlapping masks, or calibration): a note
    notes = tia_bound_notes({"a": 0.6 * bound, "b": 0.6 * bound}, 7400.0, LU177_H)
    assert len(notes) == 1 and "exceeds what the administered 7400 MBq can give" in notes[0]
    # one structure slightly over: possible within the calibration uncertainty, noted
    notes = tia_bound_notes({"body": 1.2 * bound}, 7400.0, LU177_H)
    assert any("body: TIA" in n for n in notes)
    with pytest.raises(PhysicsError, match="times what 7400 MBq can give") as err:
        tia_bound_notes(
            {"body": 1.01 * TIA_BOUND_FACTOR * bound},
            7400.0,
            LU177_H,
            calibration_cps_per_MBq=1e-30,
        )
    assert "--calibration-cps-per-MBq" in str(err.value)
    assert tia_bound_notes({"x": 1e30}, None, LU177_H) == []  # activity unknown: no bound


def _result(times, activities, model):
    """A real StructureKinetics of a curve (volume 10 mL, no partial-volume correction; the
    shape check reads only the curve and the fit, so no uncertainty budget is made)."""
    t, a = np.asarray(times, dtype=float), np.asarray(activities, dtype=float)
    fit = fit_tac(t, a, physical_half_life_h=LU177_H, model=model)
    tac = StructureTac(
        name="k",
        times_h=t,
        activities_MBq=a,
        volume_mL=10.0,
        raw_activities_MBq=a,
        mean_concentration_Bq_per_mL=a * 1e6 / 10.0,
    )
    return StructureKinetics(name="k", tac=tac, fit=fit, uncertainty=None)


def test_rise_where_the_model_cannot_is_flagged():
    times = [4.0, 24.0, 96.0, 168.0]
    falling = [10.0 * math.exp(-0.01 * t) for t in times]
    assert tac_shape_notes({"k": _result(times, falling, "mono-exp")}, 0.1) == []
    rising = [5.0, 10.0, 8.0, 6.0]
    notes = tac_shape_notes({"k": _result(times, rising, "mono-exp")}, 0.1)
    assert len(notes) == 1 and "mono-exponential model cannot follow" in notes[0]
    still_rising = [2.0, 4.0, 6.0, 9.0]
    notes = tac_shape_notes({"t": _result(times, still_rising, "trapezoid-physical")}, 0.1)
    assert len(notes) == 1 and "still rises at the last time point" in notes[0]


@pytest.mark.slow
def test_tac_with_an_absurd_calibration_is_refused(synthetic_study_small, capsys):
    study = synthetic_study_small
    argv = ["tac", str(study / "dicom"), "--masks", str(study / "truth" / "labels.nrrd")]
    # 0.01 cps/MBq is a possible (unusual) number, but 1000 times too small for this camera
    assert main([*argv, "--calibration-cps-per-MBq", "0.01", "--no-registration"]) == 2
    err = capsys.readouterr().err
    assert "times what 7400 MBq can give at most" in err and "Fix:" in err
    # 1e-6 cps/MBq is no camera's sensitivity: refused when the images are calibrated
    assert main([*argv, "--calibration-cps-per-MBq", "1e-6", "--no-registration"]) == 2
    err = capsys.readouterr().err
    assert "SPECT calibration factor (cps/MBq) 1e-06 is impossible" in err


@pytest.mark.slow
def test_swapped_session_folders_are_flagged(synthetic_study_small, tmp_path, capsys):
    import shutil

    study = tmp_path / "study"
    shutil.copytree(synthetic_study_small / "dicom", study)
    (study / "spect_004h").rename(study / "x")
    (study / "spect_024h").rename(study / "spect_004h")
    (study / "x").rename(study / "spect_024h")
    masks = synthetic_study_small / "truth" / "labels.nrrd"
    argv = ["tac", str(study), "--masks", str(masks), "--calibration-cps-per-MBq", "10"]
    assert main([*argv, "--no-registration"]) == 0
    out = capsys.readouterr().out
    assert "session folder 'spect_004h' says 4 h but its acquisition is 24.0 h" in out
    assert "are two sessions swapped?" in out
