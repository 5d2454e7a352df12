"""Physiological uptake recognised from the PET/CT (CT landmarks and tracer rules), the
PERCIST-style detection floor and the bad-input paths, on the small synthetic 68Ga-PSMA
PET/CT (planning session; PET 9.6 mm, CT 4.8 mm) against its ground truth."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError
from theranostics.io import read_image
from theranostics.lesions import import_organ_masks
from theranostics.lesions.detection import choose_floor, detect_lesions
from theranostics.lesions.evaluation import score_detection, truth_on_grid
from theranostics.lesions.organs_ct import ct_anatomy
from theranostics.lesions.physiology import (
    CandidateFeatures,
    Landmarks,
    classify,
    mask_organ_of,
    tracer_family,
)
from theranostics.lesions.quantity import uptake
from theranostics.lesions.totalseg import read_mask_folder, totalsegmentator_status

PSMA_ORGANS = {
    "parotid_left",
    "parotid_right",
    "submandibular_left",
    "submandibular_right",
    "bladder",
    "kidney_left",
    "kidney_right",
}


@pytest.fixture(scope="module")
def planning(synthetic_study_small):
    study = synthetic_study_small
    pet = read_image(study / "dicom" / "pet_planning" / "PT")
    ct = read_image(study / "dicom" / "pet_planning" / "CT")
    occupancy, truth = truth_on_grid(study, pet.image)
    return pet, ct, occupancy, truth


@pytest.fixture(scope="module")
def detection(planning):
    pet, ct, _, _ = planning
    return detect_lesions(pet, ct)


@pytest.fixture(scope="module")
def landmarks(planning):
    return Landmarks.from_anatomy(ct_anatomy(planning[1]))


def test_ct_landmarks_of_the_reference_session_against_the_truth(synthetic_study_small):
    """First SPECT/CT (identity motion): its CT grid is the truth grid."""
    ct = read_image(synthetic_study_small / "dicom" / "spect_004h" / "CT")
    names = json.loads((synthetic_study_small / "truth" / "labels.json").read_text())
    labels = sitk.GetArrayFromImage(
        sitk.ReadImage(str(synthetic_study_small / "truth" / "labels.nrrd"))
    )
    a = ct_anatomy(ct)
    # Phantom: lungs are ellipsoids z 260-460 mm, spine cylinder at x 0, y 80 mm, iliac
    # bones up to z 120 mm, liver 1.6 L under the right lung, skull around z 655 mm.
    assert a.lung_base_z_mm["left"] == pytest.approx(260, abs=6)
    assert 260 < a.lung_base_z_mm["right"] < 285  # the liver dome (top 283 mm) lifts it
    assert a.lung_apex_z_mm == pytest.approx(460, abs=8)
    assert a.pelvis_top_z_mm == pytest.approx(120, abs=8)
    assert a.spine_at(200.0) == pytest.approx((0.0, 80.0), abs=3)
    assert a.midline_x_mm == pytest.approx(0.0, abs=3)
    liver = labels == int(next(v for v, n in names.items() if n == "liver"))
    dice = 2 * np.count_nonzero(a.liver & liver) / (a.liver.sum() + liver.sum())
    assert a.liver_found and dice > 0.85
    assert a.cranial_cavity.sum() * 4.8**3 / 1000 > 1000  # brain ~1.7 L


def test_default_detection_sets_the_physiological_uptake_aside(planning, detection):
    pet, _, occupancy, truth = planning
    assert detection.tracer_family == "psma"  # from Ga68-PSMA-11
    assert detection.organ_source == "CT anatomy rules"
    organs = [p.organ for p in detection.physiological]
    assert sorted(organs) == sorted(PSMA_ORGANS)
    # each one really is the organ it is called: its hottest voxel lies in that organ
    for candidate in detection.physiological:
        index = pet.image.TransformPhysicalPointToIndex(candidate.include_seed_lps_mm)
        assert occupancy[candidate.organ][index[::-1]] > 0, candidate
        assert candidate.reason and candidate.rule in ("salivary", "bladder", "kidney")
    u = uptake(pet)
    labels = sitk.GetArrayFromImage(detection.lesions.labels).astype(np.int32)
    scores = score_detection(labels, u.values, occupancy, truth, u.voxel_volume_mL)
    assert scores["sensitivity"] == 1.0  # the 5 true lesions of 2 mL or more
    assert scores["false_positives_physiological"] == 0
    assert scores["false_positives_other"] == 0
    # the floor is the lower of the liver and blood-pool PERCIST thresholds
    floor = detection.floor
    liver, blood = floor["liver_reference"], floor["blood_pool_reference"]
    assert floor["value"] == pytest.approx(min(liver["threshold"], blood["threshold"]))
    assert liver["mean"] == pytest.approx(truth["regions"]["liver"]["pet_SUVbw"], rel=0.15)


def test_an_include_seed_reports_a_kidney_as_a_lesion(planning, detection):
    pet, ct, _, _ = planning
    kidney = next(p for p in detection.physiological if p.organ == "kidney_left")
    again = detect_lesions(pet, ct, include_seeds_lps=[kidney.include_seed_lps_mm])
    assert again.lesions.count == detection.lesions.count + 1
    assert "kidney_left" not in [p.organ for p in again.physiological]
    assert any("include seed kept as a lesion" in n for n in again.notes)


def _features(**changes) -> CandidateFeatures:
    base = CandidateFeatures(
        label=1, volume_mL=150.0, max_value=5.0, peak_lps_mm=(75.0, 55.0, 175.0),
        centroid_lps_mm=(75.0, 55.0, 175.0), extent_mm=(60.0, 50.0, 100.0), core_hu=30.0,
        core_bone_fraction=0.0, core_liver_fraction=0.0, liver_coverage=0.0,
        core_cavity_fraction=0.0, mirror_ratio=0.95, gas_voxels_near=0,
    )  # fmt: skip
    return replace(base, **changes)


def test_rules_keep_lesions_that_only_sit_where_organs_are(landmarks):
    """A kidney-like candidate is a kidney; the same place with bone (a vertebral or rib
    metastasis next to the kidney), inside the liver, or small and unpaired, is a lesion."""
    assert classify(_features(), landmarks, "psma")[0] == "kidney_left"
    assert classify(_features(core_bone_fraction=0.8, core_hu=450.0), landmarks, "psma") is None
    assert classify(_features(core_liver_fraction=1.0), landmarks, "psma") is None
    assert classify(_features(volume_mL=6.0, mirror_ratio=0.2), landmarks, "psma") is None
    # a spine lesion between the kidneys is not lateral enough to be one
    spine = (0.0, 80.0, 175.0)
    assert classify(_features(centroid_lps_mm=spine, peak_lps_mm=spine), landmarks, "psma") is None
    # the bladder needs fluid: a pelvic midline node (35 HU) stays a lesion
    pelvis = (0.0, -45.0, 45.0)
    bladder = _features(centroid_lps_mm=pelvis, peak_lps_mm=pelvis, core_hu=10.0)
    assert classify(bladder, landmarks, "sstr")[0] == "bladder"
    assert classify(replace(bladder, core_hu=35.0), landmarks, "psma") is None
    # a unilateral neck node is not a salivary gland
    neck = (32.0, -28.0, 550.0)  # in front of the cervical spine, below the parotids
    node = _features(centroid_lps_mm=neck, peak_lps_mm=neck, volume_mL=5.0, mirror_ratio=0.2)
    assert classify(node, landmarks, "psma") is None
    assert classify(replace(node, mirror_ratio=0.9), landmarks, "psma")[0] == "submandibular_left"


def test_family_specific_rules(landmarks):
    cavity = landmarks.cavity_z_mm
    brain = (0.0, 10.0, 0.5 * (cavity[0] + cavity[1]))
    f = _features(centroid_lps_mm=brain, peak_lps_mm=brain, core_cavity_fraction=0.95,
                  volume_mL=1200.0, mirror_ratio=0.2)  # fmt: skip
    assert classify(f, landmarks, "fdg")[0] == "brain"
    assert classify(f, landmarks, "psma") is None  # PSMA: the brain is not avid
    sella = (0.0, 10.0, cavity[0] + 15.0)
    f = _features(centroid_lps_mm=sella, peak_lps_mm=sella, volume_mL=1.5, mirror_ratio=0.0)
    assert classify(f, landmarks, "sstr")[0] == "pituitary"
    heart = (30.0, -25.0, 320.0)
    f = _features(centroid_lps_mm=heart, peak_lps_mm=heart, volume_mL=200.0, mirror_ratio=0.1)
    assert classify(f, landmarks, "fdg")[0] == "myocardium"
    assert classify(f, landmarks, "psma") is None
    gut = (-30.0, -60.0, 160.0)
    f = _features(centroid_lps_mm=gut, peak_lps_mm=gut, volume_mL=8.0, mirror_ratio=0.1)
    assert classify(f, landmarks, "psma") is None
    assert classify(replace(f, gas_voxels_near=12), landmarks, "psma")[0] == "bowel"
    spleen = (105.0, 35.0, 240.0)
    f = _features(centroid_lps_mm=spleen, peak_lps_mm=spleen, volume_mL=200.0, mirror_ratio=0.3)
    assert classify(f, landmarks, "sstr")[0] == "spleen"


def test_tracer_family_from_the_radiopharmaceutical():
    assert tracer_family("auto", "Ga68-PSMA-11") == "psma"
    assert tracer_family(None, "Ga68-DOTATATE") == "sstr"
    assert tracer_family("auto", "Fludeoxyglucose F^18^") == "fdg"
    assert tracer_family("auto", "MAA") is None
    assert tracer_family("fdg", "Ga68-PSMA-11") == "fdg"
    assert tracer_family("none", "Ga68-PSMA-11") is None
    with pytest.raises(InputError, match="tracer family"):
        tracer_family("choline", None)
    assert mask_organ_of("urinary_bladder", "psma") == "bladder"
    assert mask_organ_of("adrenal_gland_left", "psma") is None
    assert mask_organ_of("adrenal_gland_left", "sstr") == "adrenal"


def test_floor_is_the_lower_percist_reference_or_a_stated_fixed_value():
    values = np.full((40, 40, 40), 1.5, dtype=np.float32)
    rng = np.random.default_rng(1)
    values += rng.normal(0, 0.05, values.shape).astype(np.float32)
    liver = np.zeros(values.shape, dtype=bool)
    liver[5:35, 5:20, 5:35] = True
    values[liver] += 3.5  # a PSMA-like liver, SUV 5
    blood = np.zeros(values.shape, dtype=bool)
    blood[10:30, 25:35, 10:30] = True
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((4.0, 4.0, 4.0))
    notes: list[str] = []
    floor = choose_floor(values, image, "SUVbw", liver, blood, None, notes)
    assert floor["liver_reference"]["threshold"] == pytest.approx(1.5 * 5.0 + 0.1, abs=0.1)
    assert floor["value"] == pytest.approx(2 * 1.5 + 0.1, abs=0.1)  # blood pool is lower
    assert "blood pool" in floor["source"]
    notes = []
    floor = choose_floor(values, image, "SUVbw", None, None, None, notes)
    assert floor["value"] == 3.0 and any("fixed SUVbw 3" in n for n in notes)
    assert choose_floor(values, image, "SUVbw", liver, blood, 2.5, [])["source"] == "given"
    with pytest.raises(InputError, match="needs a threshold"):
        choose_floor(values, image, "Bq/mL", liver, blood, None, [])


def test_pet_without_ct_and_ct_elsewhere(planning):
    pet, ct, _, _ = planning
    alone = detect_lesions(pet)
    assert alone.organ_source.startswith("none")
    assert any("NOT recognised" in n for n in alone.notes)
    assert any("fixed SUVbw 3" in n for n in alone.notes)
    moved = sitk.Image(ct.image)
    moved.SetOrigin([o + 5000.0 for o in ct.image.GetOrigin()])
    with pytest.raises(GeometryError, match="does not overlap"):
        detect_lesions(pet, moved)


def test_organ_masks_label_the_candidates_instead(planning, synthetic_study_small, tmp_path):
    """Organ masks from elsewhere (here the truth label map; a TotalSegmentator folder goes
    the same way) replace the CT rules, and the output says so."""
    pet, ct, _, _ = planning
    masks, _ = import_organ_masks(synthetic_study_small / "truth" / "labels.nrrd", pet.image)
    result = detect_lesions(pet, ct, organ_masks=masks, organ_masks_source="organ masks (truth)")
    assert result.organ_source == "organ masks (truth)"
    organs = {p.organ for p in result.physiological}
    assert {"kidney_left", "kidney_right", "bladder", "parotid_left"} <= organs
    assert all(p.rule == "mask" for p in result.physiological)
    # a folder of NIfTI masks named as TotalSegmentator names them
    for name in ("kidney_left", "urinary_bladder"):
        source = "bladder" if name == "urinary_bladder" else name
        sitk.WriteImage(masks[source], str(tmp_path / f"{name}.nii.gz"))
    empty = sitk.Image(masks["liver"])
    sitk.WriteImage(empty * 0, str(tmp_path / "spleen.nii.gz"))
    folder, notes = read_mask_folder(tmp_path, pet.image)
    assert sorted(folder) == ["kidney_left", "urinary_bladder"]
    assert any("empty masks left out: spleen" in n for n in notes)
    via = detect_lesions(pet, ct, organ_masks=folder, organ_masks_source="TotalSegmentator")
    assert {"kidney_left", "urinary_bladder"} <= {p.organ for p in via.physiological}


def test_totalsegmentator_is_not_claimed_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(tmp_path))
    available, why = totalsegmentator_status()
    assert not available and ("not installed" in why or "weights not found" in why)


def test_voxel_noise_from_neighbour_differences_ignores_smooth_uptake():
    """White noise of SD 0.2 on a steep smooth ramp (0 to 10 across the mask): the estimate is
    the noise, not the ramp (the prominence rule uses 5 of it)."""
    from theranostics.lesions.detection import voxel_noise_sd

    rng = np.random.default_rng(4)
    ramp = np.linspace(0.0, 10.0, 60)[None, None, :] * np.ones((30, 30, 60))
    values = (ramp + rng.normal(0.0, 0.2, ramp.shape)).astype(np.float32)
    mask = np.zeros(values.shape, dtype=bool)
    mask[5:25, 5:25, 5:55] = True
    assert voxel_noise_sd(values, mask) == pytest.approx(0.2, rel=0.05)
    assert float(values[mask].std()) > 2.0  # the plain SD would be the ramp's


@pytest.fixture(scope="module")
def dotatate_planning():
    """The small 68Ga-DOTATATE planning PET/CT of seed 1 (one SPECT time point generated;
    cached where ``benchmarks/bench_lesions.py`` keeps it)."""
    from theranostics.phantom.generate import GENERATOR_VERSION, PhantomConfig, generate_study

    root = Path(__file__).resolve().parents[2] / ".cache" / "phantom" / "lesion-bench"
    folder = root / f"dotatate-lu177-seed1-small-planning-v{GENERATOR_VERSION}"
    if not (folder / "truth" / "ground_truth.json").is_file():
        config = PhantomConfig(seed=1, preset="dotatate-lu177", size="small", time_points_h=(4.0,))
        generate_study(folder, config, overwrite=True)
    return folder


@pytest.mark.slow
def test_sstr_spleen_kidneys_and_bladder_set_aside_liver_lesions_kept(dotatate_planning):
    study = dotatate_planning
    pet = read_image(study / "dicom" / "pet_planning" / "PT")
    ct = read_image(study / "dicom" / "pet_planning" / "CT")
    occupancy, truth = truth_on_grid(study, pet.image)
    result = detect_lesions(pet, ct)
    assert result.tracer_family == "sstr"  # Ga68-DOTATATE
    organs = {p.organ for p in result.physiological}
    assert {"spleen", "bladder"} <= organs and organs & {"kidney_left", "kidney_right"}
    for candidate in result.physiological:  # each peaks in the organ it is called
        index = pet.image.TransformPhysicalPointToIndex(candidate.include_seed_lps_mm)
        assert occupancy[candidate.organ][index[::-1]] > 0, candidate
    u = uptake(pet)
    labels = sitk.GetArrayFromImage(result.lesions.labels).astype(np.int32)
    scores = score_detection(labels, u.values, occupancy, truth, u.voxel_volume_mL)
    assert scores["sensitivity"] == 1.0  # including the liver lesions (hot spots in the liver)
    assert scores["false_positives_physiological"] == scores["false_positives_other"] == 0
    hosts = [p["host"] for p in scores["lesions"]]
    assert hosts.count("liver") >= 2
