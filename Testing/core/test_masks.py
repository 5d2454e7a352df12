"""Structure masks: label map + name table, DICOM SEG and RTSTRUCT onto a reference grid.

The synthetic study's labels (CT grid) and SPECT grid are exactly 2 x 2 x 2 apart, so the
fractional occupancy must reproduce each structure's truth volume exactly; the SEG holds the
same structures and must give the same weights. Bad inputs are real files written to
``tmp_path``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError
from theranostics.io.masks import load_masks, read_name_table


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


@pytest.fixture(scope="module")
def small_truth(synthetic_study_small) -> dict:
    return json.loads((synthetic_study_small / "truth" / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def spect_grid(synthetic_study_small) -> sitk.Image:
    """The small study's SPECT grid (9.6 mm; the truth activity map lies on it)."""
    return sitk.ReadImage(str(synthetic_study_small / "truth" / "activity_004h.nrrd"))


@pytest.fixture(scope="module")
def from_labels(synthetic_study_small, spect_grid):
    return load_masks(synthetic_study_small / "truth" / "labels.nrrd", spect_grid)


def test_label_map_occupancy_keeps_truth_volumes(synthetic_study_small, from_labels, small_truth):
    names = json.loads((synthetic_study_small / "truth" / "labels.json").read_text())
    assert from_labels.names == list(names.values())
    assert from_labels.format == "labelmap"
    assert any("fractional occupancy" in note for note in from_labels.notes)
    for name, region in small_truth["regions"].items():
        # 2x2x2 blocks: the block average is exact, so the volume is the truth's to rounding.
        assert from_labels.volumes_mL[name] == pytest.approx(region["volume_mL"], rel=1e-6)
        w = array(from_labels.weights[name])
        assert w.dtype == np.float32 and w.min() >= 0 and w.max() <= 1
        # Weights take only the values k/8 of a 2x2x2 block.
        np.testing.assert_allclose(w * 8, np.round(w * 8), atol=1e-5)
        binary = array(from_labels.masks[name])
        assert binary.dtype == np.uint8
        np.testing.assert_array_equal(binary, (w >= 0.5).astype(np.uint8))
    # The structures partition the body: the weights of one voxel never add up to more than 1.
    total = sum(array(w).astype(np.float64) for w in from_labels.weights.values())
    assert total.max() <= 1 + 1e-6
    assert np.isclose(total.max(), 1.0)


def test_seg_gives_the_same_occupancy_as_the_label_map(
    synthetic_study_small, spect_grid, from_labels
):
    seg_path = synthetic_study_small / "truth" / "structures_seg.dcm"
    before = sha256(seg_path)
    from_seg = load_masks(seg_path, spect_grid)
    assert sha256(seg_path) == before
    assert from_seg.format == "seg"
    assert from_seg.names == from_labels.names
    for name in from_labels.names:
        np.testing.assert_array_equal(
            array(from_seg.weights[name]), array(from_labels.weights[name])
        )


def test_same_grid_is_copied_and_selection_keeps_order(synthetic_study_small):
    labels_path = synthetic_study_small / "truth" / "labels.nrrd"
    labels = sitk.ReadImage(str(labels_path))
    masks = load_masks(labels_path, labels, structures=["liver", "kidney_left"])
    assert masks.names == ["liver", "kidney_left"]
    assert not any("occupancy" in note for note in masks.notes)
    np.testing.assert_array_equal(
        array(masks.masks["liver"]), (array(labels) == 3).astype(np.uint8)
    )
    with pytest.raises(InputError, match="not in the file"):
        load_masks(labels_path, labels, structures=["pancreas"])


def _write_labels(tmp_path: Path, values: np.ndarray, spacing=(2.0, 2.0, 2.0), origin=(0, 0, 0)):
    image = sitk.GetImageFromArray(values.astype(np.uint8))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    path = tmp_path / "organs.nrrd"
    sitk.WriteImage(image, str(path))
    return path, image


def _ball(shape, centre, radius) -> np.ndarray:
    k, j, i = np.indices(shape)
    return ((k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2) <= radius**2


def test_unaligned_coarser_grid_keeps_volume(tmp_path):
    values = np.zeros((60, 60, 60), np.uint8)
    values[_ball(values.shape, (30, 30, 30), 15)] = 1
    path, _ = _write_labels(tmp_path, values)
    (tmp_path / "organs.json").write_text(json.dumps({"1": "ball"}))
    reference = sitk.Image([20, 19, 21], sitk.sitkFloat32)
    reference.SetSpacing((6.5, 6.5, 6.5))
    reference.SetOrigin((-1.7, 0.9, 2.3))  # no alignment with the 2 mm label grid
    masks = load_masks(path, reference)
    truth_mL = values.sum() * 8 / 1000
    assert masks.volumes_mL["ball"] == pytest.approx(truth_mL, rel=0.01)
    # Binary masks of a coarse grid misjudge the volume much more than the occupancy does.
    assert any("sub-division 4x4x4" in note for note in masks.notes)


def test_name_tables_json_csv_and_defaults(tmp_path):
    values = np.zeros((10, 10, 10), np.uint8)
    values[2:5, 2:5, 2:5] = 1
    values[6:9, 6:9, 6:9] = 2
    path, image = _write_labels(tmp_path, values)
    csv_path = tmp_path / "names.csv"
    csv_path.write_text("label,name\n1,kidney_left\n2,kidney_right\n")
    assert read_name_table(csv_path) == {1: "kidney_left", 2: "kidney_right"}
    assert load_masks(path, image, names_file=csv_path).names == ["kidney_left", "kidney_right"]
    # No table at all: label_<n> with a note.
    unnamed = load_masks(path, image)
    assert unnamed.names == ["label_1", "label_2"]
    assert any("no name table" in note for note in unnamed.notes)
    # labels.json next to the map is the fallback default.
    (tmp_path / "labels.json").write_text(json.dumps({"1": "a", "2": "b"}))
    assert load_masks(path, image).names == ["a", "b"]


def test_bad_name_tables_and_empty_structures(tmp_path):
    values = np.zeros((10, 10, 10), np.uint8)
    values[2:5, 2:5, 2:5] = 1
    path, image = _write_labels(tmp_path, values)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps({"1": "liver", "2": "liver"}))
    with pytest.raises(InputError, match="more than once") as exc:
        load_masks(path, image, names_file=dup)
    assert "dup.json" in str(exc.value)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"one": "liver"}))
    with pytest.raises(InputError, match="not an integer"):
        load_masks(path, image, names_file=bad)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"1": "liver", "7": "spleen"}))
    with pytest.raises(InputError, match="'spleen' \\(label 7\\) is empty") as exc:
        load_masks(path, image, names_file=empty)
    assert "organs.nrrd" in str(exc.value)
    skipped = load_masks(path, image, names_file=empty, skip_empty=True)
    assert skipped.names == ["liver"]
    assert any("spleen: empty" in note for note in skipped.notes)


def test_masks_that_miss_the_image(tmp_path):
    values = np.zeros((10, 10, 10), np.uint8)
    values[2:5, 2:5, 2:5] = 1
    path, _ = _write_labels(tmp_path, values)
    (tmp_path / "organs.json").write_text(json.dumps({"1": "liver"}))
    far = sitk.Image([10, 10, 10], sitk.sitkFloat32)
    far.SetSpacing((2.0, 2.0, 2.0))
    far.SetOrigin((500.0, 0.0, 0.0))
    with pytest.raises(GeometryError, match=r"'liver'.*does not overlap") as exc:
        load_masks(path, far)
    assert "organs.nrrd" in str(exc.value)
    # Half outside: loaded, with a note saying how much is missing.
    half = sitk.Image([10, 10, 10], sitk.sitkFloat32)
    half.SetSpacing((2.0, 2.0, 2.0))
    half.SetOrigin((7.0, 0.0, 0.0))
    partial = load_masks(path, half)
    assert any("liver: only" in note for note in partial.notes)


def test_unknown_formats(tmp_path, synthetic_study_small):
    text = tmp_path / "masks.txt"
    text.write_text("not a mask")
    ref = sitk.Image([4, 4, 4], sitk.sitkFloat32)
    with pytest.raises(InputError, match="unknown mask format"):
        load_masks(text, ref)
    ct_file = next((synthetic_study_small / "dicom" / "spect_004h" / "CT").glob("*.dcm"))
    with pytest.raises(InputError, match="neither Segmentation nor RT Structure Set"):
        load_masks(ct_file, ref)
    with pytest.raises(FileNotFoundError):
        load_masks(tmp_path / "absent.nrrd", ref)
    floats = sitk.GetImageFromArray(np.full((4, 4, 4), 0.5, np.float32))
    float_path = tmp_path / "float.nrrd"
    sitk.WriteImage(floats, str(float_path))
    with pytest.raises(InputError, match="non-integer"):
        load_masks(float_path, ref)


def planimetric_mL(roi) -> float:
    """Sum of contour areas (shoelace, axial planes) x the 5 mm plane spacing, in mL."""
    areas = [
        0.5 * abs(np.dot(c[:, 0], np.roll(c[:, 1], -1)) - np.dot(c[:, 1], np.roll(c[:, 0], -1)))
        for c in roi.contours
    ]
    return sum(areas) * 5.0 / 1000.0


@pytest.mark.realdata
def test_real_rtstruct_on_the_spect_grid(siemens_maa_dir):
    from theranostics.io import read_image, read_rtstruct

    rtstruct = next((siemens_maa_dir / "RTSTRUCT").glob("*.dcm"))
    before = sha256(rtstruct)
    spect = read_image(next((siemens_maa_dir / "NM").glob("*.dcm")))
    on_spect = load_masks(rtstruct, spect, structures=["Lung", "Tumor"])
    assert sha256(rtstruct) == before
    assert on_spect.format == "rtstruct"
    assert any("subdivided 2x" in note for note in on_spect.notes)
    struct = read_rtstruct(rtstruct)
    # Occupancy on the 4.8 mm SPECT grid keeps the planning system's (planimetric) volume.
    for name, tolerance in (("Lung", 0.02), ("Tumor", 0.05)):
        assert on_spect.volumes_mL[name] == pytest.approx(
            planimetric_mL(struct.roi(name)), rel=tolerance
        )
    w = array(on_spect.weights["Tumor"])
    assert 0 < w.max() <= 1 and np.any((w > 0) & (w < 1))
