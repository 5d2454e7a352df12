"""Ground truth of the phantom: region masses, time-integrated activities, mean absorbed doses
under a stated dose model, and the files holding them (label map, activity maps, JSON).

Dose model ("local deposition of non-penetrating energy"): every decay deposits the mean
energy of the emitted electrons (beta, internal-conversion and Auger) in the voxel where it
happens; photons escape. For a region with time-integrated activity TIA (MBq·h) and mass m (g),
``D = TIA * 3.6e9 * E * 1.602176634e-13 / (m / 1000)`` Gy with ``E`` in MeV per decay, the
non-penetrating (electron + alpha) energy per decay from ICRP Publication 107 through
:mod:`theranostics.nuclide_data.emissions` (177Lu: 0.14792 MeV).
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
