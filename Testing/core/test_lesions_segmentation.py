"""Lesion segmentation on small synthetic PET images with known lesions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError, MissingTagError, UnitsError
from theranostics.image import QuantitativeImage
from theranostics.lesions import lesion_biomarkers, segment_lesions, select_physiological
from theranostics.lesions.synthetic import Blob, synthetic_pet
from theranostics.lesions.thresholds import liver_reference
from theranostics.metadata import QuantityInfo

BLOBS = [
    Blob.sphere("big", (0.0, 0.0, 0.0), 20.0, 8.0),
    Blob.sphere("medium", (60.0, 0.0, 0.0), 6.0, 5.0),
    Blob.sphere("small", (-50.0, 20.0, 30.0), 3.0, 6.0),
]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def arr(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


@pytest.fixture(scope="module")
def pet():
    return synthetic_pet(BLOBS, noise=0.05, seed=3)


@pytest.mark.parametrize("method", ["fixed", "percent-max", "adaptive"])
def test_every_lesion_found_with_good_overlap(pet, method):
    qimage, truth = pet
    seg = segment_lesions(qimage, method=method, min_volume_mL=1.0)
    labels = arr(seg.labels)
    assert seg.count == 3
    assert seg.unit == "SUVbw"
    for name, mask in truth.items():
        t = arr(mask) > 0
        hit = np.bincount(labels[t]).argmax()
        assert hit > 0, name
        assert dice(labels == hit, t) >= 0.8, (method, name)
    # Ordered by decreasing maximum: the SUV-8 sphere is lesion 1.
    assert arr(seg.labels)[arr(truth["big"]) > 0].max() == 1
    assert seg.names[0] == "lesion_001"


def test_touching_lesions_split_by_per_lesion_methods_not_by_a_global_threshold():
    blobs = [
        Blob.sphere("hot", (0.0, 0.0, 0.0), 8.0, 10.0),
        # 12.4 mm radii, 4 mm apart: after the 6 mm blur the valley between them (about
        # SUV 3.6) is above SUV 3 but well below both maxima.
        Blob.sphere("warm", (28.8, 0.0, 0.0), 8.0, 8.0),
    ]
    qimage, truth = synthetic_pet(blobs, fwhm_mm=6.0)
    fixed = segment_lesions(qimage, method="fixed")
    assert fixed.count == 1
    for method in ("percent-max", "adaptive"):
        seg = segment_lesions(qimage, method=method)
        assert seg.count == 2, method
        labels = arr(seg.labels)
        for name, expected in (("hot", 1), ("warm", 2)):
            t = arr(truth[name]) > 0
            assert np.bincount(labels[t]).argmax() == expected
        thresholds = [t["threshold"] for t in seg.lesion_thresholds]
        assert thresholds[0] > thresholds[1]  # each lesion its own threshold


def test_percent_max_threshold_is_the_percentage_of_each_maximum(pet):
    qimage, _ = pet
    seg = segment_lesions(qimage, method="percent-max", percent=50)
    values = arr(qimage.image) * 80.0 * 1000.0 / 200e6
    labels = arr(seg.labels)
    for label, info in enumerate(seg.lesion_thresholds, start=1):
        assert info["threshold"] == pytest.approx(0.5 * info["max"], rel=1e-6)
        assert values[labels == label].max() == pytest.approx(info["max"], rel=1e-5)
        assert values[labels == label].min() >= info["threshold"] - 1e-5


def test_excluded_organ_gives_no_lesion_and_masks_on_another_grid_are_resampled():
    kidney = Blob("kidney_left", (40.0, 30.0, 0.0), (20.0, 15.0, 30.0), 6.0)
    qimage, truth = synthetic_pet([kidney, BLOBS[0]], noise=0.03)
    fine = sitk.Resample(
        truth["kidney_left"],
        [2 * n for n in truth["kidney_left"].GetSize()],
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        [o - 1.0 for o in truth["kidney_left"].GetOrigin()],
        [2.0, 2.0, 2.0],
    )
    for method in ("fixed", "percent-max", "adaptive"):
        seg = segment_lesions(
            qimage, method=method, exclude={"kidney_left": fine}, exclusion_margin_mm=6.0
        )
        assert seg.count == 1, method
        inside = arr(truth["kidney_left"]) > 0
        assert not np.any(arr(seg.labels)[inside])
        assert any("resampled onto the image grid" in n for n in seg.notes)


def test_select_physiological_names():
    names = ["kidney_left", "Bladder", "lesion_01", "parotid_right", "Liver", "bone", "colon"]
    assert select_physiological(names) == [
        "kidney_left",
        "Bladder",
        "parotid_right",
        "Liver",
        "colon",
    ]


def test_seeds_keep_grow_and_drop(pet):
    qimage, _ = pet
    small_centre = BLOBS[2].centre_lps_mm
    seg = segment_lesions(qimage, method="fixed", min_volume_mL=4.0)
    assert seg.count == 2  # the 3 mL sphere is below 4 mL
    kept = segment_lesions(
        qimage, method="fixed", min_volume_mL=4.0, include_seeds_lps=[small_centre]
    )
    assert kept.count == 3
    assert any("include seed" in n for n in kept.notes)
    dropped = segment_lesions(qimage, method="fixed", exclude_seeds_lps=[BLOBS[0].centre_lps_mm])
    assert dropped.count == 2
    assert arr(dropped.labels)[tuple(np.array(qimage.size)[::-1] // 2)] == 0
    # A faint lesion below the detection floor is grown from an include seed (background-
    # corrected threshold: 41 % of a maximum of 2.5 would be the background level itself).
    faint = Blob.sphere("faint", (0.0, -40.0, 0.0), 5.0, 2.5)
    q2, truth = synthetic_pet([*BLOBS, faint], noise=0.0)
    plain = segment_lesions(q2, method="adaptive", threshold=3.0)
    grown = segment_lesions(
        q2,
        method="adaptive",
        threshold=3.0,
        include_seeds_lps=[(2.0, -38.0, 0.0)],
    )
    assert grown.count == plain.count + 1
    t = arr(truth["faint"]) > 0
    label = np.bincount(arr(grown.labels)[t]).argmax()
    assert label > 0 and dice(arr(grown.labels) == label, t) > 0.6


def test_seed_outside_the_image_is_refused(pet):
    with pytest.raises(GeometryError, match="outside the image"):
        segment_lesions(pet[0], include_seeds_lps=[(1e4, 0.0, 0.0)])


def test_percist_liver_reference_sphere_and_threshold():
    liver = Blob("liver", (-40.0, 0.0, 0.0), (45.0, 40.0, 40.0), 2.0)
    qimage, truth = synthetic_pet(
        [liver, Blob.sphere("lesion", (60.0, 0.0, 0.0), 10.0, 8.0)], noise=0.05, seed=5
    )
    seg = segment_lesions(qimage, method="percist", liver_mask=truth["liver"])
    ref = seg.parameters["liver_reference"]
    # The deepest liver voxel is at the ellipsoid centre; the sphere fits inside.
    assert np.allclose(ref["centre_lps_mm"], (-40.0, 0.0, 0.0), atol=4.0)
    assert ref["depth_mm"] >= 15.0
    values = arr(qimage.image).astype(np.float64) * 80.0 * 1000.0 / 200e6
    k, j, i = np.indices(values.shape)
    centre = qimage.image.TransformPhysicalPointToIndex(ref["centre_lps_mm"])
    d2 = sum(((a - c) * 4.0) ** 2 for a, c in zip((i, j, k), centre))
    region = (d2 <= 15.0**2) & (arr(truth["liver"]) > 0)
    expected = 1.5 * values[region].mean() + 2.0 * values[region].std(ddof=1)
    assert ref["threshold"] == pytest.approx(expected, rel=1e-4)
    assert seg.parameters["threshold"] == pytest.approx(expected, rel=1e-4)
    assert seg.count >= 1 and any("PERCIST liver reference" in n for n in seg.notes)


def test_percist_needs_a_liver(pet):
    with pytest.raises(InputError, match="liver"):
        segment_lesions(pet[0], method="percist")


def test_liver_reference_refuses_an_empty_liver(pet):
    qimage, _ = pet
    empty = np.zeros(qimage.array().shape, dtype=bool)
    with pytest.raises(InputError, match="empty"):
        liver_reference(qimage.array(), empty, qimage.image, "SUVbw")


def test_suv_without_weight_names_the_tag_and_the_override():
    qimage, _ = synthetic_pet(BLOBS[:1], weight_kg=None)
    with pytest.raises(MissingTagError) as info:
        segment_lesions(qimage, method="fixed")
    message = str(info.value)
    assert "PatientWeight" in message and "--weight-kg" in message
    # Bq/mL stays possible, with a threshold in Bq/mL.
    seg = segment_lesions(qimage, method="fixed", quantity="Bq/mL", threshold=7500.0)
    assert seg.count == 1 and seg.unit == "Bq/mL"
    with pytest.raises(InputError, match="threshold"):
        segment_lesions(qimage, method="fixed", quantity="Bq/mL")


def test_empty_image_and_counts_are_refused(pet):
    qimage, _ = pet
    blank = sitk.Image(qimage.image.GetSize(), sitk.sitkFloat32)
    blank.CopyInformation(qimage.image)
    with pytest.raises(InputError, match="empty"):
        segment_lesions(QuantitativeImage(blank, qimage.meta))
    counts = qimage.meta.replace(quantity=QuantityInfo(units="counts"))
    with pytest.raises(UnitsError, match="counts"):
        segment_lesions(QuantitativeImage(qimage.image, counts))
    with pytest.raises(InputError, match="method"):
        segment_lesions(qimage, method="otsu")


def test_no_lesion_found_is_an_empty_valid_result():
    qimage, _ = synthetic_pet([], noise=0.02)
    for method in ("fixed", "percent-max", "adaptive"):
        seg = segment_lesions(qimage, method=method)
        assert seg.count == 0 and seg.names == ()
        assert arr(seg.labels).max() == 0
        assert seg.labels.GetSize() == qimage.image.GetSize()
        assert any(n.startswith("no lesion found") for n in seg.notes)
        table = lesion_biomarkers(qimage, seg)
        assert table.lesions == [] and table.total["lesion_count"] == 0
        assert table.total["volume_mL"] == 0.0
        assert seg.to_json()["labels"] == {}
