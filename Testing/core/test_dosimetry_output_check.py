"""run_dosimetry called from Python or Slicer checks its output folder before any work."""

from __future__ import annotations

import pytest

from theranostics.errors import OutputError
from theranostics.workflows.dosimetry import run_dosimetry


def test_an_output_that_is_a_file_is_refused_before_any_work(synthetic_study_small, tmp_path):
    target = tmp_path / "results"
    target.write_text("a file the user keeps")
    steps = []
    with pytest.raises(OutputError, match="a folder is needed") as err:
        run_dosimetry(
            synthetic_study_small / "dicom",
            masks_path=synthetic_study_small / "truth" / "labels.nrrd",
            out_dir=target,
            calibration_cps_per_MBq=10.0,
            progress=lambda fraction, message: steps.append(message),
        )
    assert "out_dir" in str(err.value)
    assert steps == []  # no stage started: the study was not even loaded
    assert target.read_text() == "a file the user keeps"  # the file is left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # nothing else written
