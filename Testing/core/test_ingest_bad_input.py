"""A corpus of broken inputs, written with pydicom: each gives a specific, explanatory error
(file, tag, fix), a bad series never hides the good ones, and no input file is changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dicom_factory import ct_slice, nm_multiframe, pet_slice, write, write_series
from pydicom.uid import generate_uid

from theranostics.errors import (
    GeometryError,
    InputError,
    MissingTagError,
    MixedSeriesError,
    NotDicomError,
    TimingError,
    UnitsError,
)
from theranostics.io import inspect_directory, read_image, scan_directory
from theranostics.quant.suv import suv_factors


@pytest.fixture
def frozen():
    """Record file digests with ``frozen.record(folder)``; checked at teardown."""

    class Frozen:
        def __init__(self) -> None:
            self.folders: list[tuple[Path, dict]] = []

        def record(self, folder: Path) -> None:
            self.folders.append((folder, _digests(folder)))

    state = Frozen()
    yield state
    for folder, before in state.folders:
        assert _digests(folder) == before, f"input files in {folder} were modified"


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _pet_series(folder: Path, mutate=None, n: int = 3) -> list[Path]:
    uid = generate_uid()
    slices = [pet_slice(uid, 3.0 * k) for k in range(n)]
    for ds in slices:
        if mutate:
            mutate(ds)
    return write_series(slices, folder)


def _assert_explains(exc: InputError, path_part: str, tag_part: str) -> None:
    text = str(exc)
    assert path_part in text, f"message does not name the file: {text}"
    assert tag_part in text, f"message does not name the tag: {text}"
    assert "Fix:" in text, f"message gives no fix: {text}"


def test_missing_injection_time_refuses_suv_but_reads(tmp_path, frozen):
    def drop_start(ds):
        del ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime

    files = _pet_series(tmp_path / "pet", drop_start)
    frozen.record(tmp_path)
    pet = read_image(tmp_path / "pet")
    assert pet.meta.quantity.units == "Bq/mL"
    assert pet.array().mean() == pytest.approx(200.0)
    with pytest.raises(MissingTagError) as err:
        suv_factors(pet.meta)
    _assert_explains(err.value, str(files[0].parent), "RadiopharmaceuticalStartDateTime")


def test_missing_weight_refuses_suv_but_bq_per_ml_works(tmp_path, frozen):
    _pet_series(tmp_path / "pet", lambda ds: delattr(ds, "PatientWeight"))
    frozen.record(tmp_path)
    pet = read_image(tmp_path / "pet")
    assert pet.array().mean() == pytest.approx(200.0)  # 100 stored x slope 2 = Bq/mL
    with pytest.raises(MissingTagError) as err:
        suv_factors(pet.meta)
    _assert_explains(err.value, "slice_000.dcm", "PatientWeight")
    assert "Bq/mL is fine" in str(err.value)


def test_acquisition_before_administration(tmp_path, frozen):
    def inject_late(ds):
        ds.RadiopharmaceuticalInformationSequence[
            0
        ].RadiopharmaceuticalStartDateTime = "20240501110000"

    _pet_series(tmp_path / "pet", inject_late)
    frozen.record(tmp_path)
    with pytest.raises(TimingError) as err:
        read_image(tmp_path / "pet")
    _assert_explains(err.value, "slice_000.dcm", "RadiopharmaceuticalStartDateTime")


def test_mixed_series_in_one_folder(tmp_path, frozen):
    _pet_series(tmp_path / "mixed", n=2)
    uid = generate_uid()
    write_series([ct_slice(uid, 0.0), ct_slice(uid, 3.0)], tmp_path / "mixed", stem="ct")
    frozen.record(tmp_path)
    with pytest.raises(MixedSeriesError) as err:
        read_image(tmp_path / "mixed")
    _assert_explains(err.value, "mixed", "SeriesInstanceUID")
    rows = inspect_directory(tmp_path / "mixed")
    assert sorted(r["modality"] for r in rows) == ["CT", "PT"]
    assert all("error" not in r for r in rows)


def test_truncated_file_is_reported_and_other_series_survive(tmp_path, frozen):
    files = _pet_series(tmp_path / "study" / "pet")
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) - 15])
    uid = generate_uid()
    write_series([ct_slice(uid, 0.0), ct_slice(uid, 3.0)], tmp_path / "study" / "ct")
    frozen.record(tmp_path)
    with pytest.raises(NotDicomError) as err:
        read_image(tmp_path / "study" / "pet")
    _assert_explains(err.value, "slice_001.dcm", "PixelData")
    rows = {r["modality"]: r for r in inspect_directory(tmp_path / "study")}
    assert "error" in rows["PT"] and "truncated" in rows["PT"]["error"]
    assert rows["CT"]["size"] == [5, 4, 2] and "error" not in rows["CT"]


def test_non_dicom_file_is_skipped_with_reason(tmp_path, frozen):
    _pet_series(tmp_path / "pet")
    (tmp_path / "pet" / "notes.txt").write_text("operator notes, not DICOM")
    frozen.record(tmp_path)
    scan = scan_directory(tmp_path)
    assert [s.reason for s in scan.skipped] == ["not a DICOM file (no DICM preamble)"]
    assert read_image(tmp_path / "pet").size == (5, 4, 3)
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "pet" / "notes.txt")
    assert "notes.txt" in str(err.value) and "not a DICOM file" in str(err.value)


def test_inconsistent_slice_sizes(tmp_path, frozen):
    uid = generate_uid()
    write_series([pet_slice(uid, 0.0), pet_slice(uid, 3.0, rows=6)], tmp_path / "pet")
    frozen.record(tmp_path)
    with pytest.raises(MixedSeriesError) as err:
        read_image(tmp_path / "pet")
    _assert_explains(err.value, "slice_001.dcm", "Rows/Columns")


def test_duplicate_slices_at_one_position(tmp_path, frozen):
    uid = generate_uid()
    write_series([pet_slice(uid, 0.0), pet_slice(uid, 3.0), pet_slice(uid, 3.0)], tmp_path / "pet")
    frozen.record(tmp_path)
    with pytest.raises(GeometryError) as err:
        read_image(tmp_path / "pet")
    _assert_explains(err.value, "slice_00", "ImagePositionPatient")
    assert "same position" in str(err.value)


def test_identical_duplicate_file_is_ignored_with_note(tmp_path, frozen):
    uid = generate_uid()
    first = pet_slice(uid, 0.0)
    write_series([first, pet_slice(uid, 3.0)], tmp_path / "pet")
    write(first, tmp_path / "pet" / "copy_of_first.dcm")
    frozen.record(tmp_path)
    pet = read_image(tmp_path / "pet")
    assert pet.size == (5, 4, 2)
    assert any("duplicate copy" in p for p in pet.meta.problems)


def test_uneven_slices(tmp_path, frozen):
    uid = generate_uid()
    write_series([pet_slice(uid, z) for z in (0.0, 3.0, 9.0, 12.0)], tmp_path / "pet")
    frozen.record(tmp_path)
    with pytest.raises(GeometryError) as err:
        read_image(tmp_path / "pet")
    _assert_explains(err.value, "slice_00", "ImagePositionPatient")
    assert "uneven" in str(err.value)


@pytest.mark.parametrize("spacing", ["0", "-2.0"])
def test_zero_or_negative_pixel_spacing(tmp_path, frozen, spacing):
    _pet_series(tmp_path / "pet", lambda ds: setattr(ds, "PixelSpacing", [spacing, spacing]))
    frozen.record(tmp_path)
    with pytest.raises(GeometryError) as err:
        read_image(tmp_path / "pet")
    _assert_explains(err.value, "slice_000.dcm", "PixelSpacing")


@pytest.mark.parametrize("spacing", ["0", "-4.0"])
def test_zero_or_negative_nm_slice_spacing(tmp_path, frozen, spacing):
    ds = nm_multiframe(generate_uid())
    ds.SpacingBetweenSlices = spacing
    write(ds, tmp_path / "nm.dcm")
    frozen.record(tmp_path)
    with pytest.raises(GeometryError) as err:
        read_image(tmp_path / "nm.dcm")
    _assert_explains(err.value, "nm.dcm", "SpacingBetweenSlices")


def test_nm_without_detector_information(tmp_path, frozen):
    ds = nm_multiframe(generate_uid())
    del ds.DetectorInformationSequence
    write(ds, tmp_path / "nm.dcm")
    frozen.record(tmp_path)
    with pytest.raises(GeometryError) as err:
        read_image(tmp_path / "nm.dcm")
    _assert_explains(err.value, "nm.dcm", "DetectorInformationSequence")


def test_nm_projection_data_is_refused(tmp_path, frozen):
    ds = nm_multiframe(generate_uid())
    ds.ImageType = ["ORIGINAL", "PRIMARY", "TOMO", "EMISSION"]
    write(ds, tmp_path / "nm.dcm")
    frozen.record(tmp_path)
    with pytest.raises(GeometryError) as err:
        read_image(tmp_path / "nm.dcm")
    _assert_explains(err.value, "nm.dcm", "ImageType")


def test_unknown_units(tmp_path, frozen):
    _pet_series(tmp_path / "pet", lambda ds: setattr(ds, "Units", "PROPCPS"))
    frozen.record(tmp_path)
    with pytest.raises(UnitsError) as err:
        read_image(tmp_path / "pet")
    _assert_explains(err.value, "slice_000.dcm", "Units (0054,1001)")
    rows = inspect_directory(tmp_path)
    assert "PROPCPS" in rows[0]["error"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "nowhere")
    assert "nowhere" in str(err.value) and "no such file" in str(err.value)
