"""Study presets: radiopharmaceutical, administered activity, per-region kinetics, lesions,
planning PET, and the grid sizes.

Kinetic parameters are round values chosen *inside* the ranges reported in the clinical
dosimetry literature; they are not fitted to any one patient and not averages of any one
paper. Sources (see ``docs/phantom.md`` for the discussion):

- 177Lu-PSMA-617: Kratochwil C et al., J Nucl Med 2016;57:1170-1176; Delker A et al., Eur J
  Nucl Med Mol Imaging 2016;43:42-51; Violet J et al., J Nucl Med 2019;60:517-523
  (kidneys and salivary glands retain 177Lu-PSMA with effective half-lives of roughly 1-2 days,
  tumours longer; absorbed doses per GBq of about 0.4-0.8 Gy/GBq kidneys, 0.5-1.4 Gy/GBq
  parotids, ~0.1 Gy/GBq liver, a few cGy/GBq red marrow).
- 177Lu-DOTATATE: Sandström M et al., J Nucl Med 2013;54:33-41; Garske-Román U et al., Eur J
  Nucl Med Mol Imaging 2018;45:970-988 (kidney effective half-lives of about 2 days, spleen
  and tumours longer; kidney absorbed dose per GBq of about 0.6-0.9 Gy/GBq, spleen ~1 Gy/GBq).

Effective half-lives refer to the therapy nuclide (177Lu, physical half-life 6.647 d).
"""

from __future__ import annotations

from dataclasses import dataclass

from .anatomy import Z_EXTENT_MM, Grid
from .kinetics import RegionKinetics, Washout


@dataclass(frozen=True)
class LesionSpec:
    """How lesions are drawn.

    Attributes:
        count_range: (min, max) number of lesions, inclusive.
        volume_range_mL: (min, max) lesion volume in mL.
        host_weights: relative frequency of ``bone``, ``node`` and ``liver`` lesions.
        uptake_range_percent_per_mL: plateau uptake, % of administered activity per mL.
        t_eff_range_h: effective washout half-life range (h).
        uptake_half_life_range_h: biological uptake half-time range (h).
    """

    count_range: tuple[int, int]
    volume_range_mL: tuple[float, float]
    host_weights: dict[str, float]
    uptake_range_percent_per_mL: tuple[float, float]
    t_eff_range_h: tuple[float, float]
    uptake_half_life_range_h: tuple[float, float]


@dataclass(frozen=True)
class Preset:
    """A complete study recipe (see module docstring for the kinetic sources)."""

    name: str
    description: str
    nuclide: str
    radiopharmaceutical: str
    radiopharmaceutical_code: tuple[str, str, str] | None
    administered_MBq: float
    organs: dict[str, RegionKinetics]
    lesions: LesionSpec
    pet_nuclide: str
    pet_radiopharmaceutical: str
    pet_radiopharmaceutical_code: tuple[str, str, str] | None
    pet_administered_MBq: float
    pet_uptake_time_h: float
    pet_days_before_therapy: float
    patient_sex: str
    patient_weight_kg: float
    patient_height_m: float


def _uw(fraction: float, t_eff_h: float, t_up_h: float | None = 1.0) -> RegionKinetics:
    return RegionKinetics((Washout(fraction, t_eff_h),), t_up_h)


#: Blood and soft tissue ("remainder of body"): fast renal clearance plus a slow component.
_REMAINDER_PSMA = RegionKinetics((Washout(0.55, 1.5), Washout(0.12, 30.0)), None)
_REMAINDER_DOTATATE = RegionKinetics((Washout(0.55, 2.0), Washout(0.12, 40.0)), None)

PRESETS: dict[str, Preset] = {
    "psma-lu177": Preset(
        name="psma-lu177",
        description="177Lu-PSMA-617, 7.4 GBq, metastatic prostate cancer (bone and nodes)",
        nuclide="Lu-177",
        radiopharmaceutical="Lu177-PSMA-617",
        radiopharmaceutical_code=None,  # no code for 177Lu-PSMA-617 in DICOM CID 25
        administered_MBq=7400.0,
        organs={
            "kidney_left": _uw(0.016, 36.0, 1.0),
            "kidney_right": _uw(0.016, 36.0, 1.0),
            "liver": _uw(0.03, 50.0, 1.0),
            "spleen": _uw(0.0036, 50.0, 1.0),
            "parotid_left": _uw(0.0023, 40.0, 0.5),
            "parotid_right": _uw(0.0023, 40.0, 0.5),
            "submandibular_left": _uw(0.0007, 40.0, 0.5),
            "submandibular_right": _uw(0.0007, 40.0, 0.5),
            "bladder": _uw(0.03, 6.0, 1.0),
            "red_marrow": _uw(0.0055, 40.0, 0.5),
            "lung_left": _uw(0.005, 30.0, 0.5),
            "lung_right": _uw(0.005, 30.0, 0.5),
            "cortical_bone": _uw(0.005, 40.0, 1.0),
            "remainder_of_body": _REMAINDER_PSMA,
        },
        lesions=LesionSpec(
            count_range=(6, 9),
            volume_range_mL=(0.5, 50.0),
            host_weights={"bone": 0.5, "node": 0.35, "liver": 0.15},
            uptake_range_percent_per_mL=(0.015, 0.045),
            t_eff_range_h=(50.0, 90.0),
            uptake_half_life_range_h=(1.0, 3.0),
        ),
        pet_nuclide="Ga-68",
        pet_radiopharmaceutical="Ga68-PSMA-11",
        pet_radiopharmaceutical_code=None,
        pet_administered_MBq=150.0,
        pet_uptake_time_h=1.0,
        pet_days_before_therapy=14.0,
        patient_sex="M",
        patient_weight_kg=78.0,
        patient_height_m=1.76,
    ),
    "dotatate-lu177": Preset(
        name="dotatate-lu177",
        description="177Lu-DOTATATE, 7.4 GBq, neuroendocrine tumour (liver, nodes, bone)",
        nuclide="Lu-177",
        radiopharmaceutical="Lu177-DOTATATE",
        radiopharmaceutical_code=("781259000", "SCT", "Lutetium^177^ DOTATATE"),
        administered_MBq=7400.0,
        organs={
            "kidney_left": _uw(0.016, 50.0, 1.0),
            "kidney_right": _uw(0.016, 50.0, 1.0),
            "liver": _uw(0.045, 70.0, 1.0),
            "spleen": _uw(0.026, 65.0, 1.0),
            "parotid_left": _uw(0.0002, 40.0, 1.0),
            "parotid_right": _uw(0.0002, 40.0, 1.0),
            "submandibular_left": _uw(0.0001, 40.0, 1.0),
            "submandibular_right": _uw(0.0001, 40.0, 1.0),
            "bladder": _uw(0.03, 6.0, 1.0),
            "red_marrow": _uw(0.004, 30.0, 0.5),
            "lung_left": _uw(0.003, 30.0, 0.5),
            "lung_right": _uw(0.003, 30.0, 0.5),
            "cortical_bone": _uw(0.003, 40.0, 1.0),
            "remainder_of_body": _REMAINDER_DOTATATE,
        },
        lesions=LesionSpec(
            count_range=(5, 8),
            volume_range_mL=(0.5, 50.0),
            host_weights={"bone": 0.15, "node": 0.25, "liver": 0.6},
            uptake_range_percent_per_mL=(0.02, 0.06),
            t_eff_range_h=(70.0, 110.0),
            uptake_half_life_range_h=(1.0, 4.0),
        ),
        pet_nuclide="Ga-68",
        pet_radiopharmaceutical="Ga68-DOTATATE",
        pet_radiopharmaceutical_code=("724025002", "SCT", "Dotatate Ga^68^"),
        pet_administered_MBq=150.0,
        pet_uptake_time_h=1.0,
        pet_days_before_therapy=21.0,
        patient_sex="F",
        patient_weight_kg=68.0,
        patient_height_m=1.65,
    ),
}


@dataclass(frozen=True)
class SizeSpec:
    """Grid sizes of one study size.

    The *fine* grid carries the CT and the truth (labels, masses); the SPECT and PET grids
    are its 2x2x2 blocks, so activity summed from the fine grid onto them is exact.
    """

    name: str
    fine_spacing_mm: float
    fine_size: tuple[int, int, int]

    @property
    def fine_grid(self) -> Grid:
        s = self.fine_spacing_mm
        nx, ny, nz = self.fine_size
        origin = (-(nx - 1) * s / 2.0, -(ny - 1) * s / 2.0, Z_EXTENT_MM[0] + s / 2.0)
        return Grid((nx, ny, nz), (s, s, s), origin)

    @property
    def emission_grid(self) -> Grid:
        return self.fine_grid.coarsened(2)


SIZES: dict[str, SizeSpec] = {
    # CT 4.8 mm, SPECT/PET 9.6 mm: a coarse study for tests.
    "small": SizeSpec("small", 4.8, (128, 128, 160)),
    # CT 2.4 mm (256 x 256), SPECT/PET 4.8 mm (128 x 128, as a clinical SPECT), 768 mm long.
    "standard": SizeSpec("standard", 2.4, (256, 256, 320)),
}

#: Lesion centres snap to the voxel centres of the small fine grid, which are voxel corners of
#: the standard fine grid: every size draws the same lesions, and a 0.5 mL sphere always
#: holds voxels.
SNAP_GRID = SIZES["small"].fine_grid


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
