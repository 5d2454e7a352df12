"""3D Slicer's files as input: .nrrd volumes with any direction and layered .seg.nrrd
segmentations, on synthetic files and on the real radioembolisation patients."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
import SimpleITK as sitk
from sirt_nrrd import PET_1, SEG_1, SEG_2, SPECT_2, sirt_nrrd_dir, write_seg_nrrd

from theranostics.errors import GeometryError, InputError, UnitsError
from theranostics.io.inspect import inspect_directory
from theranostics.io.masks import load_masks
from theranostics.io.slicer_files import (
    is_slicer_segmentation,
    read_segmentation,
    read_volume,
    segmentation_masks,
)


def _parse_nrrd(path):
    """An independent NRRD reader (header fields + gzip raw voxels, numpy order of the file's
    axes reversed), to check the SimpleITK-based reader with different code."""
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    fields = {}
    for line in head.decode("latin-1").splitlines()[1:]:
        if line.startswith("#"):
            continue
        key, _sep, value = line.partition(":=") if ":=" in line else line.partition(": ")
        fields[key.strip()] = value.strip()
    sizes = [int(v) for v in fields["sizes"].split()]
    dtype = {"unsigned char": np.uint8, "short": "<i2", "double": "<f8"}[fields["type"]]
    data = np.frombuffer(gzip.decompress(body), dtype=dtype)
    return fields, data.reshape(sizes[::-1])


# ------------------------------------------------------------------------------------------
# Synthetic files


def _two_layer_seg(tmp_path, **geometry):
    liver = np.zeros((4, 8, 8), np.uint8)
    liver[:, 2:6, 2:6] = 1
    liver[0, 0, 0] = 2  # "stomach": a second label in layer 0
    tumours = np.zeros_like(liver)
    tumours[1:3, 3:5, 3:5] = 1  # overlaps the liver
    return write_seg_nrrd(
        tmp_path / "s.seg.nrrd",
        [liver, tumours],
        [("Liver", 0, 1), ("Stomach", 0, 2), ("Tumor 1", 1, 1)],
        spacing=(1.0, 1.0, 2.0),
        **geometry,
    )


def test_layered_segmentation_with_overlap(tmp_path):
    path = _two_layer_seg(tmp_path)
    seg = read_segmentation(path)
    assert seg.names == ["Liver", "Stomach", "Tumor 1"]
    assert [s.layer for s in seg.segments] == [0, 0, 1]
    assert seg.voxel_counts() == {"Liver": 64, "Stomach": 1, "Tumor 1": 8}
    assert is_slicer_segmentation(path)
    # overlap: the tumour lies inside the liver and both keep their voxels
    assert np.all(seg.mask_array("Liver")[seg.mask_array("Tumor 1")])
    # on a grid 2x coarser in-plane (block aligned): occupancy keeps each volume exactly
    ref = sitk.Image([4, 4, 4], sitk.sitkFloat32)
    ref.SetSpacing((2.0, 2.0, 2.0))
    ref.SetOrigin((0.5, 0.5, 0.0))
    masks = load_masks(path, ref)
    assert masks.format == "slicer-seg"
    assert masks.volumes_mL["Liver"] == pytest.approx(64 * 2e-3)
    assert masks.volumes_mL["Tumor 1"] == pytest.approx(8 * 2e-3)
    assert masks.volumes_mL["Stomach"] == pytest.approx(2e-3)
    chosen = segmentation_masks(seg, ref, structures=["Tumor 1", "Liver"])
    assert chosen.names == ["Tumor 1", "Liver"]


def test_negative_axis_volume_keeps_its_geometry(tmp_path):
    values = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    image = sitk.GetImageFromArray(values)
    image.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, -1))
    image.SetOrigin((10.0, 20.0, 30.0))
    image.SetSpacing((1.0, 2.0, 5.0))
    path = tmp_path / "spect.nrrd"
    sitk.WriteImage(image, str(path))
    q = read_volume(path, overrides={"units": "counts", "nuclide": "Tc-99m"})
    assert q.image.TransformIndexToPhysicalPoint((3, 2, 1)) == pytest.approx((13.0, 24.0, 25.0))
    assert q.array()[1, 2, 3] == values[1, 2, 3]
    assert q.meta.quantity.units == "counts" and q.meta.administration.nuclide == "Tc-99m"


def test_sidecar_and_options_merge(tmp_path):
    image = sitk.Image([2, 2, 2], sitk.sitkFloat32)
    path = tmp_path / "pet.nrrd"
    sitk.WriteImage(image, str(path))
    side = {"schema": "theranostics-sidecar/1", "units": "Bq/mL", "nuclide": "Y-90"}
    (tmp_path / "pet.json").write_text(json.dumps(side))
    q = read_volume(path, overrides={"acquisition_datetime": "2024-01-02T10:00:00"})
    assert q.meta.quantity.units == "Bq/mL"
    assert q.meta.acquisition.start.hour == 10
    q2 = read_volume(path, overrides={"units": "counts"})
    assert q2.meta.quantity.units == "counts"
    assert any("replaces the sidecar" in p for p in q2.meta.problems)


# ------------------------------------------------------------------------------------------
# Bad input


def test_volume_without_units_is_refused(tmp_path):
    path = tmp_path / "pet.nrrd"
    sitk.WriteImage(sitk.Image([2, 2, 2], sitk.sitkFloat32), str(path))
    with pytest.raises(UnitsError, match="units") as err:
        read_volume(path)
    assert "--units" in str(err.value)


def test_plain_nrrd_is_not_a_segmentation(tmp_path):
    path = tmp_path / "labels.nrrd"
    sitk.WriteImage(sitk.Image([2, 2, 2], sitk.sitkUInt8), str(path))
    with pytest.raises(InputError, match="no segments"):
        read_segmentation(path)


def test_unknown_segment_name(tmp_path):
    seg = read_segmentation(_two_layer_seg(tmp_path))
    with pytest.raises(InputError, match="no segment named 'Spleen'") as err:
        seg.segment("Spleen")
    assert "'Liver'" in str(err.value)
    ref = sitk.Image([8, 8, 4], sitk.sitkFloat32)
    with pytest.raises(InputError, match="Spleen"):
        load_masks(seg.path, ref, structures=["Spleen"])


def test_segmentation_on_another_grid(tmp_path):
    path = _two_layer_seg(tmp_path, origin=(500.0, 500.0, 500.0))
    ref = sitk.Image([8, 8, 4], sitk.sitkFloat32)
    with pytest.raises(GeometryError, match="does not overlap"):
        load_masks(path, ref)


def test_segment_layer_out_of_range(tmp_path):
    labels = np.ones((2, 2, 2), np.uint8)
    path = write_seg_nrrd(tmp_path / "bad.seg.nrrd", [labels], [("A", 3, 1)])
    with pytest.raises(InputError, match="layer") as err:
        read_segmentation(path)
    assert err.value.tag == "Segment0_Layer"


def test_segmentation_passed_as_volume(tmp_path):
    path = _two_layer_seg(tmp_path)
    with pytest.raises(InputError, match="segmentation, not an image"):
        read_volume(path, overrides={"units": "Bq/mL"})


def test_inspect_lists_slicer_files(tmp_path):
    _two_layer_seg(tmp_path)
    sitk.WriteImage(sitk.Image([2, 2, 2], sitk.sitkFloat32), str(tmp_path / "pet.nrrd"))
    rows = {r["series_description"]: r for r in inspect_directory(tmp_path)}
    assert rows["s.seg.nrrd"]["structures"] == ["Liver", "Stomach", "Tumor 1"]
    assert rows["s.seg.nrrd"]["voxel_counts"]["Tumor 1"] == 8
    assert rows["pet.nrrd"]["units"] is None
    assert "units unknown" in rows["pet.nrrd"]["problems"]


# ------------------------------------------------------------------------------------------
# Real patients

EXPECTED_SEGMENTS = {
    SEG_1: {
        "Liver": 1005479,
        "Tumor 1": 10558,
        "Tumor 2": 141574,
        "Tumor 3": 145,
        "Tumor 4": 351,
        "Tumor 5": 491,
        "Tumor 6": 1083,
        "Normal Tissue": 854653,
    },
    SEG_2: {
        "gallbladder": 17530,
        "liver": 724113,
        "Tumor 1": 47323,
        "Tumor 2": 53906,
        "perfused volume": 453922,
        "whole liver normal": 605354,
        "perfused normal": 335305,
    },
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", [SEG_1, SEG_2])
def test_real_segmentations_names_and_voxel_counts(name):
    path = sirt_nrrd_dir() / name
    seg = read_segmentation(path)
    assert seg.voxel_counts() == EXPECTED_SEGMENTS[name]
    # the same from an independent NRRD parse: layer axis first in the file
    fields, data = _parse_nrrd(path)
    data = data[..., np.newaxis] if data.ndim == 3 else data
    for key, value in fields.items():
        m = re.match(r"Segment(\d+)_Name$", key)
        if m:
            n = m.group(1)
            layer = int(fields[f"Segment{n}_Layer"])
            label = int(fields[f"Segment{n}_LabelValue"])
            assert int(np.sum(data[..., layer] == label)) == EXPECTED_SEGMENTS[name][value]


@pytest.mark.realdata
def test_real_pet_total_activity_in_field_of_view():
    path = sirt_nrrd_dir() / PET_1
    pet = read_volume(path, overrides={"units": "Bq/mL", "nuclide": "Y-90"})
    _fields, data = _parse_nrrd(path)
    voxel_mL = np.prod([2.34375, 2.34375, 2.7799999930640795]) / 1000.0
    total_MBq = float(data.sum(dtype=np.float64)) * voxel_mL / 1e6
    assert float(pet.array().sum()) * pet.voxel_volume_mL / 1e6 == pytest.approx(total_MBq)
    assert 1050.0 < total_MBq < 1200.0  # "about 1.1 GBq in the field of view" (README)


@pytest.mark.realdata
def test_real_spect_third_axis_points_to_minus_z():
    path = sirt_nrrd_dir() / SPECT_2
    spect = read_volume(path, overrides={"units": "counts", "nuclide": "Tc-99m"})
    assert spect.image.GetDirection()[8] == -1.0
    z_last = spect.image.TransformIndexToPhysicalPoint((0, 0, 159))[2]
    assert z_last == pytest.approx(1332.8000489999999 - 159 * 2.5)
    # the segmentation (third axis +z) overlaps the SPECT: the liver lies inside its FOV
    masks = load_masks(sirt_nrrd_dir() / SEG_2, spect, structures=["liver"])
    fine_mL = EXPECTED_SEGMENTS[SEG_2]["liver"] * 0.976562**2 * 2.5 / 1000.0
    assert masks.volumes_mL["liver"] == pytest.approx(fine_mL, rel=0.01)
