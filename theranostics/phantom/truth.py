"""Ground truth of the phantom: region masses, time-integrated activities, mean absorbed doses
under a stated dose model, and the files holding them (label map, activity maps, JSON).

Dose model ("local deposition of non-penetrating energy"): every decay deposits the mean
energy of the emitted electrons (beta, internal-conversion and Auger) in the voxel where it
happens; photons escape. For a region with time-integrated activity TIA (MBq·h) and mass m (g),
``D = TIA * 3.6e9 * E * 1.602176634e-13 / (m / 1000)`` Gy with ``E`` in MeV per decay, the
non-penetrating (electron + alpha) energy per decay from ICRP Publication 107 through
:mod:`theranostics.nuclide_data.emissions` (177Lu: 0.14792 MeV).

:func:`photon_inclusive_mean_doses` derives from it the truth of the voxel S-value kernel
method (photons included), computed on demand from a written study.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .anatomy import Grid

MEV_TO_J = 1.602176634e-13
SECONDS_PER_HOUR = 3600.0


def nonpenetrating_energy_MeV(nuclide: str) -> float:
    """Mean electron (+ alpha) energy emitted per decay, MeV (ICRP Publication 107, Ann. ICRP
    38(3), 2008; 177Lu: 0.14792 MeV)."""
    from ..nuclide_data.emissions import get_emissions

    return float(get_emissions(nuclide).nonpenetrating_energy_MeV)


def dose_model(nuclide: str) -> dict:
    """Description of the dose model behind ``mean_dose_Gy`` (written into the JSON)."""
    return {
        "name": "local deposition of the mean electron energy per decay",
        "mean_energy_MeV_per_decay": nonpenetrating_energy_MeV(nuclide),
        "energy_source": "ICRP Publication 107 (2008): total electron energy per decay of "
        f"{nuclide} (beta, internal conversion and Auger electrons); photons escape",
        "formula": "mean_dose_Gy = tia_MBq_h * 3.6e9 * E_MeV * 1.602176634e-13 / (mass_g/1000)",
        "mass": "sum over the region's voxels on the truth grid of voxel volume times the "
        "density of its tissue class",
    }


def mean_dose_Gy(tia_MBq_h: float, mass_g: float, nuclide: str) -> float:
    """Mean absorbed dose (Gy) of a region under :func:`dose_model`."""
    decays = tia_MBq_h * 1e6 * SECONDS_PER_HOUR
    return decays * nonpenetrating_energy_MeV(nuclide) * MEV_TO_J / (mass_g / 1000.0)


def region_stats(
    labels: np.ndarray, density: np.ndarray, grid: Grid, names: dict[str, int]
) -> dict[str, dict]:
    """``{name: {label, voxels, volume_mL, mass_g}}`` for every structure on ``grid``."""
    flat = labels.ravel().astype(np.int64)
    size = max(names.values()) + 1
    count = np.bincount(flat, minlength=size)
    mass = np.bincount(flat, weights=density.ravel(), minlength=size) * grid.voxel_volume_mL
    return {
        name: {
            "label": int(lab),
            "voxels": int(count[lab]),
            "volume_mL": float(count[lab] * grid.voxel_volume_mL),
            "mass_g": float(mass[lab]),
        }
        for name, lab in names.items()
    }


def to_sitk(array: np.ndarray, grid: Grid) -> sitk.Image:
    """A SimpleITK image of a ``[k, j, i]`` array on ``grid`` (identity direction, LPS)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in grid.spacing_mm))
    image.SetOrigin(tuple(float(o) for o in grid.origin_mm))
    return image


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_image(path: Path, image: sitk.Image, sidecar: dict | None = None) -> None:
    """Write a NRRD (compressed) atomically, with an optional JSON sidecar next to it
    (``name.nrrd`` -> ``name.json``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("tmp_" + path.name)
    sitk.WriteImage(image, str(tmp), useCompression=True)
    os.replace(tmp, path)
    if sidecar is not None:
        write_json(path.with_suffix(".json"), sidecar)


def _grid_from_json(entry: dict, what: str, path: Path) -> Grid:
    try:
        return Grid(
            tuple(int(n) for n in entry["size"]),
            tuple(float(s) for s in entry["spacing_mm"]),
            tuple(float(o) for o in entry["origin_mm"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        from ..errors import InputError

        raise InputError(
            f"grid {what!r} is missing or malformed ({exc})",
            path=path,
            tag=f"grids.{what}",
            fix="regenerate the study with theranostics.phantom.generate_study",
        ) from exc


def _block_factor(fine: Grid, coarse: Grid, path: Path) -> int:
    """The integer ``b`` for which ``coarse`` is ``fine.coarsened(b)``; InputError otherwise."""
    from ..errors import InputError

    factor = round(coarse.spacing_mm[0] / fine.spacing_mm[0])
    expected = fine.coarsened(factor) if factor >= 1 and not fine.size[0] % factor else None
    # 1e-3 mm: the JSON stores origins such as -12.600000000000001 (float rounding)
    if expected is None or (
        expected.size != coarse.size
        or not np.allclose(expected.spacing_mm, coarse.spacing_mm, rtol=0, atol=1e-6)
        or not np.allclose(expected.origin_mm, coarse.origin_mm, rtol=0, atol=1e-3)
    ):
        raise InputError(
            f"the activity grid (size {coarse.size}, spacing {coarse.spacing_mm} mm, origin "
            f"{coarse.origin_mm} mm) is not made of whole blocks of the label grid (size "
            f"{fine.size}, spacing {fine.spacing_mm} mm, origin {fine.origin_mm} mm)",
            path=path,
            tag="grids",
            fix="use a study written by theranostics.phantom.generate_study (activity grid = "
            "label grid coarsened by an integer factor)",
        )
    return factor


def photon_inclusive_mean_doses(study_dir: str | Path) -> dict[str, float]:
    """Mean absorbed dose (Gy) of every phantom region with photons included, as the voxel
    S-value kernel would compute it from the *true* activity: a truth to compare the kernel
    method of :func:`theranostics.dose.compute.compute_dose` with.

    ``regions[name]["mean_dose_Gy"]`` of ``truth/ground_truth.json`` deposits only the
    electron energy, locally (:func:`dose_model`); the kernel method also deposits photon
    energy (self- and cross-dose), so it reads a few per cent above that truth by physics, not
    by error. This function multiplies the electron-only truth by a per-region photon factor
    ``f`` computed with the same dose engine the workflow uses:

    1. The true TIA map: each region's ``tia_MBq_h`` spread uniformly over its voxels of
       ``truth/labels.nrrd`` (the generator makes activity uniform within each region),
       MBq·h per voxel on the label grid (``grids["ct_and_labels"]``), then summed over
       ``b^3`` blocks (``b`` = 2 for the generator's grids) onto the activity grid
       (``grids["spect_pet_and_activity"]``, checked to be the label grid coarsened by an
       integer factor, with consistent origins).
    2. On that grid, in water (no CT): ``D_kernel = compute_dose(tia, nuclide,
       method="kernel")`` and ``D_led = compute_dose(tia, nuclide, method="led")`` (Gy).
    3. Per region, with the occupancy ``w`` of each coarse voxel (fraction of its label-grid
       voxels carrying the region's label): ``f = sum(w D_kernel) / sum(w D_led)``. Since
       ``sum(w D_led) * m_voxel`` is the region's electron energy, ``f`` is the energy the
       kernel deposits in the region over the electron energy emitted in it; with both doses
       in water that ratio does not depend on the tissue density, so it applies to the
       truth's own masses. The sums run over the label grid (each label-grid voxel adds the
       dose of the coarse voxel holding it), which equals the occupancy weighting without
       building one occupancy map per region. ``f`` holds the photon self- and cross-dose
       (photons beyond the kernel's photon extent, 60 mm by default, escape as they do in the
       workflow) and the kernel's spreading of electron energy across voxel boundaries (177Lu
       electrons range about 2 mm at most, but the kernel's voxel S-values share a voxel's
       electron energy with its neighbours). On the standard study ``f`` is 1.03 for the
       kidneys, 1.05 for the spleen, 1.06 for the liver and 1.09-1.12 for the lungs and the
       rest of the body (cross-dose); small hot regions (lesions and glands under about 10
       mL) get 0.97-1.00, as the spreading out of the region outweighs their photon
       self-dose.
    4. Return ``regions[name]["mean_dose_Gy"] * f``.

    Comparing the kernel method with these doses isolates the imaging chain (quantification,
    registration, kinetics, partial-volume correction, CT-derived masses) with the dose
    engine held fixed; the kernel itself is validated separately against published voxel
    S-values (``Testing/core/test_dose_kernel_published.py``). Photon transport is that of uniform
    water: lung and bone heterogeneity is not modelled, here as in the kernel method.

    Nothing is written into ``study_dir`` (cached studies are read-only). Takes a few
    seconds on the standard study (label grid 256 x 256 x 320, activity grid 128 x 128 x 160).

    Args:
        study_dir: a study folder written by :func:`theranostics.phantom.generate_study`.

    Returns:
        ``{region name: mean absorbed dose in Gy}`` for every region of the ground truth.

    Raises:
        InputError: ``truth/ground_truth.json`` or ``truth/labels.nrrd`` missing or
            unreadable, a label map whose geometry or voxel counts differ from the JSON's, or
            an activity grid that is not made of whole blocks of the label grid.
    """
    from ..dose.compute import compute_dose
    from ..errors import InputError

    truth_dir = Path(study_dir) / "truth"
    gt_path = truth_dir / "ground_truth.json"
    labels_path = truth_dir / "labels.nrrd"
    for path in (gt_path, labels_path):
        if not path.is_file():
            raise InputError(
                f"ground-truth file {path.name} not found",
                path=path,
                fix="give a study folder written by theranostics.phantom.generate_study",
            )
    try:
        gt = json.loads(gt_path.read_text())
        regions = gt["regions"]
        nuclide = gt["administration"]["nuclide"]
        grids = gt["grids"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(
            f"not a phantom ground truth ({exc})",
            path=gt_path,
            fix="regenerate the study with theranostics.phantom.generate_study",
        ) from exc
    fine = _grid_from_json(grids.get("ct_and_labels"), "ct_and_labels", gt_path)
    coarse = _grid_from_json(grids.get("spect_pet_and_activity"), "spect_pet_and_activity", gt_path)
    factor = _block_factor(fine, coarse, gt_path)

    try:
        image = sitk.ReadImage(str(labels_path))
    except RuntimeError as exc:  # SimpleITK reports unreadable files as RuntimeError
        raise InputError(
            f"cannot read the label map ({exc})",
            path=labels_path,
            fix="regenerate the study with theranostics.phantom.generate_study",
        ) from exc
    if image.GetSize() != fine.size or not (
        np.allclose(image.GetSpacing(), fine.spacing_mm, rtol=0, atol=1e-4)
        and np.allclose(image.GetOrigin(), fine.origin_mm, rtol=0, atol=1e-3)
    ):
        raise InputError(
            f"label map geometry (size {image.GetSize()}, spacing {image.GetSpacing()} mm, "
            f"origin {image.GetOrigin()} mm) differs from grids.ct_and_labels in "
            f"{gt_path.name}",
            path=labels_path,
            fix="regenerate the study; the label map and the ground truth must match",
        )
    labels = sitk.GetArrayFromImage(image).astype(np.intp, copy=False)
    n_labels = int(labels.max()) + 1

    # 1. true TIA, MBq·h per label-grid voxel (uniform within a region), summed in blocks
    # the spread is only right if the label map holds the voxels the truth counted
    counts = np.bincount(labels.ravel(), minlength=n_labels)
    wrong = [
        n for n, r in regions.items() if r["label"] >= n_labels or counts[r["label"]] != r["voxels"]
    ]
    if wrong:
        raise InputError(
            f"voxel counts of {wrong} in {labels_path.name} differ from regions[*].voxels",
            path=labels_path,
            fix="regenerate the study; the label map and the ground truth must match",
        )
    tia_per_voxel = np.zeros(n_labels)
    for region in regions.values():
        if region["voxels"] > 0:
            tia_per_voxel[region["label"]] = region["tia_MBq_h"] / region["voxels"]
    nz, ny, nx = coarse.shape_kji
    b = factor
    tia = tia_per_voxel[labels].reshape(nz, b, ny, b, nx, b).sum(axis=(1, 3, 5))
    tia_image = sitk.GetImageFromArray(tia)
    tia_image.SetSpacing(coarse.spacing_mm)
    tia_image.SetOrigin(coarse.origin_mm)

    # 2. both doses in water on the activity grid
    kernel = sitk.GetArrayFromImage(
        compute_dose(tia_image, nuclide, method="kernel", float32=True)
    ).astype(np.float64)
    led = sitk.GetArrayFromImage(compute_dose(tia_image, nuclide, method="led")).astype(np.float64)

    # 3. sum(w D) over coarse voxels = (1/b^3) * sum over the region's label-grid voxels of
    # the dose of the coarse voxel containing them: one bincount over the label grid gives
    # every region at once, without a per-region occupancy map (the 1/b^3 cancels in f).
    def region_sums(dose: np.ndarray) -> np.ndarray:
        parent = np.broadcast_to(dose[:, None, :, None, :, None], (nz, b, ny, b, nx, b)).reshape(
            labels.shape
        )
        return np.bincount(labels.ravel(), weights=parent.ravel(), minlength=n_labels)

    sum_kernel = region_sums(kernel)
    sum_led = region_sums(led)

    # 4. scale the electron-only truth
    out = {}
    for name, region in regions.items():
        lab = region["label"]
        # a region without activity has no electron dose to scale (its truth is 0 Gy)
        factor_r = sum_kernel[lab] / sum_led[lab] if sum_led[lab] > 0 else 1.0
        out[name] = float(region["mean_dose_Gy"] * factor_r)
    return out
