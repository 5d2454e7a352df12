"""Generate the synthetic patient study: DICOM files plus exact ground truth.

Layout of ``OUTDIR``::

    dicom/pet_planning/CT/CT_0001.dcm ...   PET/CT before therapy (68Ga tracer)
    dicom/pet_planning/PT/PT_0001.dcm ...
    dicom/spect_004h/CT/...                 one SPECT/CT per time point
    dicom/spect_004h/NM/NM_0001.dcm         (one multi-frame NM file)
    truth/labels.nrrd, truth/labels.json    structures on the CT grid of the first SPECT/CT
    truth/structures_seg.dcm                the same structures as DICOM SEG
    truth/activity_004h.nrrd (+ .json)      true activity (Bq/mL) at each acquisition start
    truth/ground_truth.json                 masses, TIA, mean doses, kinetics, acquisitions

Everything is deterministic for a given configuration (seed included). The *reference frame*
of the truth is the patient pose of the first SPECT/CT (its motion is the identity); each
later session has a small rigid motion, given in ``ground_truth.json``.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..nuclides import get_nuclide
from ..progress import ProgressCallback, report
from . import anatomy as anat
from . import dicom_writers as dw
from . import spect, truth
from .kinetics import LN2, curve_for, total_curve
from .lesions import draw_lesions
from .presets import SIZES, get_preset

GENERATOR_VERSION = 1
#: 177Lu photopeak 208.4 keV with a 20 % window (±10 %).
LU177_WINDOW = (208.4 * 0.9, 208.4 * 1.1, "Lu177_208")
#: Positron fraction of 68Ga (ICRP 107: 0.8891 beta+ per decay).
GA68_POSITRON_FRACTION = 0.8891


@dataclass(frozen=True)
class PhantomConfig:
    """Parameters of one generated study.

    Attributes:
        seed: seeds lesions, motion and noise.
        preset: a key of :data:`~theranostics.phantom.presets.PRESETS`.
        size: ``"small"`` (tests) or ``"standard"`` (clinical grid).
        time_points_h: SPECT acquisition starts, hours after administration.
        frame_durations_s: time per projection at each time point (s); ``None`` gives 20 s
            up to 24 h, 30 s at 96 h and later... (longer scans when activity is low).
        frames_per_rotation: projections per detector head (dual head, 180° each).
        spect_fwhm_mm: resolution of the reconstructed SPECT (Gaussian FWHM, mm).
        calibration_cps_per_MBq: SPECT system volume sensitivity: reconstructed counts per
            second per MBq in the field of view.
        pet_fwhm_mm: resolution of the PET (mm).
        pet_counts_per_Bq_s: PET noise level: effective detected-and-reconstructed counts
            per decay (a noise knob, not a scanner sensitivity).
        pet_duration_s: PET frame duration (s).
        ct_noise_hu: standard deviation of the CT noise (HU).
        max_motion_deg, max_motion_mm: range of the rigid motion between sessions.
        administration: date and time of the therapy administration.
    """

    seed: int = 1
    preset: str = "psma-lu177"
    size: str = "standard"
    time_points_h: tuple[float, ...] = (4.0, 24.0, 96.0, 168.0)
    frame_durations_s: tuple[float, ...] | None = None
    frames_per_rotation: int = 60
    spect_fwhm_mm: float = 12.0
    calibration_cps_per_MBq: float = 10.0
    pet_fwhm_mm: float = 6.0
    pet_counts_per_Bq_s: float = 5e-4
    pet_duration_s: float = 900.0
    ct_noise_hu: float = 10.0
    max_motion_deg: float = 2.0
    max_motion_mm: float = 6.0
    administration: datetime = field(default=datetime(2024, 3, 12, 9, 30, 0))

    def durations(self) -> tuple[float, ...]:
        if self.frame_durations_s is not None:
            if len(self.frame_durations_s) != len(self.time_points_h):
                raise ValueError("one frame duration per time point is needed")
            return tuple(float(d) for d in self.frame_durations_s)
        return tuple(20.0 if t <= 24 else 30.0 if t <= 96 else 40.0 for t in self.time_points_h)

    def to_json(self) -> dict:
        data = asdict(self)
        data["administration"] = self.administration.isoformat()
        data["frame_durations_s"] = list(self.durations())
        data["time_points_h"] = list(self.time_points_h)
        return data


def session_name(t_h: float) -> str:
    return f"spect_{round(t_h):03d}h" if float(t_h).is_integer() else f"spect_{t_h:g}h"


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *stream])


def generate_study(
    outdir: str | Path,
    config: PhantomConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> dict:
    """Generate the study into ``outdir`` and return the ground-truth dictionary.

    The study is built in a sibling temporary folder and moved into place at the end, so an
    interrupted run never leaves a half-written ``outdir``. An existing non-empty ``outdir``
    is an error unless ``overwrite`` is true.
    """
    config = config or PhantomConfig()
    outdir = Path(outdir)
    if outdir.exists() and any(outdir.iterdir()) and not overwrite:
        raise FileExistsError(f"{outdir} exists and is not empty (use overwrite)")
    work = outdir.with_name(f".{outdir.name}.partial-{os.getpid()}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        result = _generate(work, config, progress)
        if outdir.exists():
            shutil.rmtree(outdir)
        os.replace(work, outdir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report(progress, 1.0, "study written")
    return result


def _generate(out: Path, cfg: PhantomConfig, progress: ProgressCallback | None) -> dict:
    preset = get_preset(cfg.preset)
    if cfg.size not in SIZES:
        raise ValueError(f"unknown size {cfg.size!r}; choose one of {sorted(SIZES)}")
    size = SIZES[cfg.size]
    fine, coarse = size.fine_grid, size.emission_grid
    nuclide = get_nuclide(preset.nuclide)
    pet_nuclide = get_nuclide(preset.pet_nuclide)
    a0 = preset.administered_MBq
    admin = cfg.administration
    n_steps = 3 + 2 * len(cfg.time_points_h) + 2
    step = 0

    def tick(message: str) -> None:
        nonlocal step
        report(progress, step / n_steps, message)
        step += 1

    # --- anatomy, lesions, kinetics -------------------------------------------------------
    tick("anatomy and kinetics")
    base = anat.base_anatomy()
    lesions, lesion_kinetics = draw_lesions(_rng(cfg.seed, 1), preset.lesions, base)
    anatomy = anat.with_lesions(base, lesions)
    kinetics = {**preset.organs, **lesion_kinetics}
    names = anatomy.structure_labels
    curves = {n: curve_for(kinetics[n], a0, nuclide.half_life_h) for n in names}
    retention = total_curve(curves.values())
    t_check = np.concatenate([np.linspace(0, 48, 4801), np.linspace(48, 2000, 2000)])
    if np.any(
        retention.activity_MBq(t_check)
        > a0 * np.exp(-nuclide.decay_constant_per_h * t_check) * (1 + 1e-9)
    ):
        raise ValueError(f"preset {preset.name}: regions hold more than the administered activity")

    tick("voxelising the reference anatomy")
    classes_ref = anat.rasterize(anatomy, fine)
    label_lut = anatomy.lookup("label")
    labels_ref = label_lut[classes_ref]
    density_ref = anatomy.lookup("density_g_per_mL")[classes_ref]
    stats = truth.region_stats(labels_ref, density_ref, fine, names)
    empty = [n for n, s in stats.items() if s["voxels"] == 0]
    if empty:
        raise ValueError(f"structures without voxels on the {cfg.size} grid: {empty}")
    # share of a region's activity held by each of its voxels (uniform within a region)
    share_by_label = np.zeros(int(label_lut.max()) + 1)
    for s in stats.values():
        share_by_label[s["label"]] = 1.0 / s["voxels"]
    share = share_by_label[labels_ref]

    def per_voxel(values_by_name: dict[str, float]) -> np.ndarray:
        lut = np.zeros_like(share_by_label)
        for n, v in values_by_name.items():
            lut[names[n]] = v
        return lut[labels_ref] * share

    patient = dw.Patient(
        name="PHANTOM^THERANOSTICS",
        patient_id=f"PHANTOM-{preset.name}-{cfg.seed}",
        sex=preset.patient_sex,
        weight_kg=preset.patient_weight_kg,
        height_m=preset.patient_height_m,
    )
    hu_lut = anatomy.lookup("hu")
    motion_rng = _rng(cfg.seed, 2)
    dicom_dir = out / "dicom"
    truth_dir = out / "truth"
    coarse_mL = coarse.voxel_volume_mL

    def write_ct(
        session: dw.Session, motion: anat.RigidTransform, when: datetime, stream: int
    ) -> list[Path]:
        classes = classes_ref if motion.is_identity else anat.rasterize(anatomy, fine, motion)
        hu = hu_lut[classes] + _rng(cfg.seed, 3, stream).normal(0.0, cfg.ct_noise_hu, classes.shape)
        hu[classes == 0] = -1000.0 + _rng(cfg.seed, 6, stream).normal(
            0.0, cfg.ct_noise_hu, int(np.count_nonzero(classes == 0))
        )
        return dw.write_ct_series(
            dicom_dir / session.name / "CT", hu, fine, patient, session, cfg.seed, when
        )

    # --- post-therapy SPECT/CT time points -----------------------------------------------
    time_points = []
    reference_ct: list[Path] = []
    for index, (t_h, frame_s) in enumerate(zip(cfg.time_points_h, cfg.durations())):
        name = session_name(t_h)
        start = admin + timedelta(hours=float(t_h))
        motion = (
            anat.RigidTransform(centre_mm=anat.BODY_CENTRE_MM)
            if index == 0
            else spect.draw_motion(motion_rng, cfg.max_motion_deg, cfg.max_motion_mm)
        )
        session = dw.Session(
            name,
            dw.make_uid(cfg.seed, name, "study"),
            dw.make_uid(cfg.seed, name, "frame of reference"),
            start - timedelta(minutes=5),
            f"TP{index + 1}",
            f"177Lu SPECT/CT {t_h:g} h post therapy",
        )
        acq = dw.SpectAcquisition(
            start, frame_s, cfg.frames_per_rotation, 3.0, 180.0, LU177_WINDOW, cfg.spect_fwhm_mm
        )
        tick(f"{name}: CT")
        ct_files = write_ct(session, motion, start - timedelta(minutes=2), 10 + index)
        if index == 0:
            reference_ct = ct_files
        tick(f"{name}: SPECT")
        t1_h = t_h + acq.duration_s / 3600.0
        activity_at_start = {n: float(c.activity_MBq(t_h)) for n, c in curves.items()}
        integral_MBq_s = {n: c.integral_MBq_h(t_h, t1_h) * 3600.0 for n, c in curves.items()}
        source = spect.block_sum(spect.move_activity(per_voxel(integral_MBq_s), fine, motion))
        expected = spect.blur(source, cfg.spect_fwhm_mm, coarse.spacing_mm)
        expected *= cfg.calibration_cps_per_MBq
        counts = spect.poisson_counts(expected, _rng(cfg.seed, 4, index))
        if counts.max() > 65535:
            raise ValueError(
                f"{name}: {counts.max()} counts in a voxel do not fit uint16; shorten the "
                "frame duration or lower the calibration factor"
            )
        nm_path = dicom_dir / name / "NM" / "NM_0001.dcm"
        dw.write_nm_spect(
            nm_path,
            counts.astype(np.uint16),
            coarse,
            patient,
            session,
            cfg.seed,
            acq,
            preset.nuclide,
            nuclide.half_life_s,
            preset.radiopharmaceutical,
            preset.radiopharmaceutical_code,
            admin,
            a0,
        )
        true_map = spect.block_sum(per_voxel(activity_at_start)) * 1e6 / coarse_mL
        truth.write_image(
            truth_dir / f"activity_{name.removeprefix('spect_')}.nrrd",
            truth.to_sitk(true_map.astype(np.float32), coarse),
            {
                "schema": "theranostics-sidecar/1",
                "modality": "OT",
                "units": "Bq/mL",
                "series_description": f"true activity concentration at {t_h:g} h "
                "(acquisition start), reference pose",
                "nuclide": preset.nuclide,
                "radiopharmaceutical": preset.radiopharmaceutical,
                "administered_activity_MBq": a0,
                "administration_datetime": admin.isoformat(),
                "acquisition_datetime": start.isoformat(),
                "decay_correction": "NONE",
                "patient_weight_kg": preset.patient_weight_kg,
                "patient_height_m": preset.patient_height_m,
                "patient_sex": preset.patient_sex,
            },
        )
        time_points.append(
            {
                "name": name,
                "time_h": float(t_h),
                "acquisition_start": start.isoformat(),
                "duration_s": acq.duration_s,
                "frame_duration_s": frame_s,
                "frames_per_rotation": cfg.frames_per_rotation,
                "motion": motion.to_json(),
                "total_activity_MBq": float(retention.activity_MBq(t_h)),
                "expected_total_counts": float(expected.sum()),
                "measured_total_counts": int(counts.sum()),
                "region_activity_MBq": activity_at_start,
                "region_integral_over_acquisition_MBq_s": integral_MBq_s,
                "files": {
                    "ct": str((dicom_dir / name / "CT").relative_to(out)),
                    "nm": str(nm_path.relative_to(out)),
                    "truth_activity": f"truth/activity_{name.removeprefix('spect_')}.nrrd",
                },
            }
        )

    # --- pre-therapy PET/CT --------------------------------------------------------------
    tick("planning PET/CT")
    pet_admin = admin - timedelta(days=preset.pet_days_before_therapy)
    pet_start = pet_admin + timedelta(hours=preset.pet_uptake_time_h)
    pet_motion = spect.draw_motion(motion_rng, cfg.max_motion_deg, cfg.max_motion_mm)
    pet_session = dw.Session(
        "pet_planning",
        dw.make_uid(cfg.seed, "pet", "study"),
        dw.make_uid(cfg.seed, "pet", "frame of reference"),
        pet_start - timedelta(minutes=5),
        "PET1",
        f"{preset.pet_radiopharmaceutical} PET/CT planning",
    )
    write_ct(pet_session, pet_motion, pet_start - timedelta(minutes=2), 99)
    pet_curves = {
        n: curve_for(
            kinetics[n],
            preset.pet_administered_MBq,
            pet_nuclide.half_life_h,
            t_eff_nuclide_half_life_h=nuclide.half_life_h,
        )
        for n in names
    }
    t_pet = preset.pet_uptake_time_h
    pet_activity = {n: float(c.activity_MBq(t_pet)) for n, c in pet_curves.items()}
    pet_true = spect.block_sum(spect.move_activity(per_voxel(pet_activity), fine, pet_motion))
    pet_true_bqml = pet_true * 1e6 / coarse_mL
    pet_blurred = spect.blur(pet_true_bqml, cfg.pet_fwhm_mm, coarse.spacing_mm)
    lam_pet_s = pet_nuclide.decay_constant_per_s
    scale = cfg.pet_counts_per_Bq_s * cfg.pet_duration_s * coarse_mL
    pet_noisy = spect.poisson_counts(pet_blurred * scale, _rng(cfg.seed, 5)) / scale
    x = lam_pet_s * cfg.pet_duration_s
    decay_factor = x / (1.0 - math.exp(-x))
    frame_ref_ms = -math.log((1.0 - math.exp(-x)) / x) / lam_pet_s * 1000.0
    pet_acq = dw.PetAcquisition(pet_start, cfg.pet_duration_s, decay_factor, frame_ref_ms)
    dw.write_pet_series(
        dicom_dir / "pet_planning" / "PT",
        pet_noisy,
        coarse,
        patient,
        pet_session,
        cfg.seed,
        pet_acq,
        preset.pet_nuclide,
        pet_nuclide.half_life_s,
        GA68_POSITRON_FRACTION,
        preset.pet_radiopharmaceutical,
        preset.pet_radiopharmaceutical_code,
        pet_admin,
        preset.pet_administered_MBq,
    )
    a_inj_at_scan_Bq = (
        preset.pet_administered_MBq * 1e6 * math.exp(-LN2 * t_pet / pet_nuclide.half_life_h)
    )

    # --- truth files ---------------------------------------------------------------------
    tick("ground truth")
    truth.write_image(truth_dir / "labels.nrrd", truth.to_sitk(labels_ref.astype(np.uint16), fine))
    truth.write_json(
        truth_dir / "labels.json",
        {str(v): n for n, v in sorted(names.items(), key=lambda kv: kv[1])},
    )
    dw.write_seg(
        truth_dir / "structures_seg.dcm",
        labels_ref,
        names,
        reference_ct,
        cfg.seed,
        admin + timedelta(hours=float(cfg.time_points_h[0])),
    )
    regions = {}
    for n in names:
        s = stats[n]
        tia = curves[n].tia_MBq_h
        lesion = next((les for les in lesions if les.name == n), None)
        regions[n] = {
            **s,
            "category": "lesion"
            if lesion
            else (
                "background"
                if n in ("remainder_of_body", "cortical_bone", "lung_left", "lung_right")
                else "organ"
            ),
            "host": lesion.host if lesion else None,
            "analytic_volume_mL": lesion.shape.volume_mL if lesion else None,
            "density_g_per_mL": s["mass_g"] / s["volume_mL"],
            "kinetics": kinetics[n].to_json(),
            "curve_terms": curves[n].to_json(),
            "tia_MBq_h": tia,
            "mean_dose_Gy": truth.mean_dose_Gy(tia, s["mass_g"], preset.nuclide),
            "pet_activity_MBq": pet_activity[n],
            "pet_mean_Bq_per_mL": pet_activity[n] * 1e6 / s["volume_mL"],
            "pet_SUVbw": pet_activity[n]
            * 1e6
            / s["volume_mL"]
            / (a_inj_at_scan_Bq / (preset.patient_weight_kg * 1000.0)),
        }
    ground_truth = {
        "schema": "theranostics-phantom-truth",
        "generator_version": GENERATOR_VERSION,
        "config": cfg.to_json(),
        "preset": {"name": preset.name, "description": preset.description},
        "patient": asdict(patient),
        "administration": {
            "nuclide": preset.nuclide,
            "radiopharmaceutical": preset.radiopharmaceutical,
            "activity_MBq": a0,
            "datetime": admin.isoformat(),
            "physical_half_life_h": nuclide.half_life_h,
        },
        "time_axis": "hours after administration",
        "reference_frame": "patient pose of the first SPECT/CT (identity motion); labels on "
        "its CT grid, activity maps on its SPECT grid",
        "grids": {
            "ct_and_labels": {
                "size": fine.size,
                "spacing_mm": fine.spacing_mm,
                "origin_mm": fine.origin_mm,
            },
            "spect_pet_and_activity": {
                "size": coarse.size,
                "spacing_mm": coarse.spacing_mm,
                "origin_mm": coarse.origin_mm,
            },
        },
        "dose_model": truth.dose_model(preset.nuclide),
        "spect": {
            "calibration_cps_per_MBq": cfg.calibration_cps_per_MBq,
            "calibration_meaning": "expected reconstructed counts = calibration_cps_per_MBq x "
            "integral over the acquisition of the activity in the field of view (MBq s); "
            "counts per voxel follow Poisson statistics",
            "counts_decay_corrected": False,
            "counts_model": "Poisson(calibration x PSF * (activity integrated exactly over "
            "the acquisition, kinetics and physical decay included))",
            "psf_fwhm_mm": cfg.spect_fwhm_mm,
            "energy_window_keV": list(LU177_WINDOW[:2]),
            "energy_window_name": LU177_WINDOW[2],
            "duration_rule": "duration_s = ActualFrameDuration x NumberOfFramesInRotation",
        },
        "pet": {
            "nuclide": preset.pet_nuclide,
            "radiopharmaceutical": preset.pet_radiopharmaceutical,
            "activity_MBq": preset.pet_administered_MBq,
            "administration_datetime": pet_admin.isoformat(),
            "acquisition_start": pet_start.isoformat(),
            "duration_s": cfg.pet_duration_s,
            "units": "Bq/mL decay corrected to the acquisition start (DecayCorrection START)",
            "psf_fwhm_mm": cfg.pet_fwhm_mm,
            "decay_factor": decay_factor,
            "motion": pet_motion.to_json(),
            "kinetics": "the therapy's biological kinetics with 68Ga physical decay",
            "files": {"ct": "dicom/pet_planning/CT", "pt": "dicom/pet_planning/PT"},
        },
        "time_points": time_points,
        "regions": regions,
        "whole_body": {
            "tia_MBq_h": retention.tia_MBq_h,
            "curve_terms": retention.to_json(),
        },
        "files": {
            "labels": "truth/labels.nrrd",
            "label_names": "truth/labels.json",
            "seg": "truth/structures_seg.dcm",
            "dicom": "dicom",
        },
    }
    truth.write_json(truth_dir / "ground_truth.json", ground_truth)
    return ground_truth
