"""The synthetic sample study in the scene: generated locally on first use (no download),
cached, and loaded as quantitative volume nodes with their metadata.

The module registers these loaders with Slicer's SampleData module; they are plain functions
of a scene so the self-tests and the Python console use the same path.
"""

from __future__ import annotations

import os
from pathlib import Path

from theranostics.io import read_image
from theranostics.phantom.generate import PhantomConfig, generate_study
from theranostics.quant.spect import counts_to_activity_concentration

from .volumes import volume_node_from_image

#: Where the generated study is cached: ``$THERANOSTICS_SAMPLE_CACHE`` or the user cache.
DEFAULT_CACHE = Path(
    os.environ.get("THERANOSTICS_SAMPLE_CACHE", Path.home() / ".cache" / "theranostics")
)


def sample_study_dir(
    cache_dir: str | Path | None = None, *, size: str = "small", progress=None
) -> Path:
    """Folder of the synthetic study (default preset and seed), generated if missing.

    ``size="small"`` (SPECT 9.6 mm, a few seconds) suits demonstrations and self-tests;
    ``"standard"`` is the clinical-resolution study of ``make demo`` (about 30 s).
    """
    from theranostics.demo import cache_key

    config = PhantomConfig(size=size)
    folder = Path(cache_dir or DEFAULT_CACHE) / "sample-data" / cache_key(config)
    if not (folder / "truth" / "ground_truth.json").is_file():
        generate_study(folder, config, progress=progress, overwrite=True)
    return folder


def load_sample_pet(scene, cache_dir=None, *, size: str = "small"):
    """The planning 68Ga-PSMA PET (Bq/mL, with patient weight and administration) as a
    volume node; its CT is loaded too and named ``"Sample planning CT"``."""
    study = sample_study_dir(cache_dir, size=size)
    volume_node_from_image(
        read_image(study / "dicom" / "pet_planning" / "CT"), scene, "Sample planning CT"
    )
    return volume_node_from_image(
        read_image(study / "dicom" / "pet_planning" / "PT"), scene, "Sample planning PET"
    )


def load_sample_time_points(scene, cache_dir=None, *, size: str = "small") -> list:
    """Every post-therapy SPECT/CT session: a CT node and a SPECT node in Bq/mL (converted
    with the study's calibration factor) per time point, in time order. Returns the
    ``(ct_node, spect_node)`` pairs."""
    import json

    study = sample_study_dir(cache_dir, size=size)
    truth = json.loads((study / "truth" / "ground_truth.json").read_text())
    calibration = truth["config"]["calibration_cps_per_MBq"]
    pairs = []
    for tp in truth["time_points"]:
        label = f"{tp['time_h']:g} h"
        ct = volume_node_from_image(read_image(study / tp["files"]["ct"]), scene, f"CT {label}")
        counts = read_image(study / tp["files"]["nm"])
        spect = counts_to_activity_concentration(counts, calibration)
        pairs.append((ct, volume_node_from_image(spect, scene, f"SPECT {label}")))
    return pairs
