"""The sample-data loaders put the synthetic study into a real MRML scene with metadata."""

from __future__ import annotations

import shutil

import pytest
from TheranosticPlanningLib.sample_data import (
    load_sample_pet,
    load_sample_time_points,
)
from TheranosticPlanningLib.volumes import image_from_volume_node


@pytest.fixture
def cache(tmp_path, synthetic_study_small):
    """A cache already holding the small study (copied, so nothing is generated twice)."""
    folder = tmp_path / "sample-data" / synthetic_study_small.name
    shutil.copytree(synthetic_study_small, folder)
    return tmp_path


def test_sample_pet_is_quantitative_with_weight_and_administration(mrml, cache):
    node = load_sample_pet(mrml.scene, cache)
    image = image_from_volume_node(node)
    assert image.meta.quantity.units == "Bq/mL"
    assert image.meta.patient.weight_kg == pytest.approx(78.0)
    assert image.meta.administration.nuclide == "Ga-68"
    assert mrml.scene.GetFirstNodeByName("Sample planning CT") is not None


def test_sample_time_points_are_in_time_order_and_in_Bq_per_mL(mrml, cache):
    pairs = load_sample_time_points(mrml.scene, cache)
    assert [spect.GetName() for _, spect in pairs] == [
        "SPECT 4 h",
        "SPECT 24 h",
        "SPECT 96 h",
        "SPECT 168 h",
    ]
    spect = image_from_volume_node(pairs[0][1])
    assert spect.meta.quantity.units == "Bq/mL"
    assert spect.meta.administration.nuclide == "Lu-177"
    assert image_from_volume_node(pairs[0][0]).meta.modality == "CT"


def test_sample_study_is_generated_once_into_an_empty_cache(tmp_path, monkeypatch):
    calls = []
    import TheranosticPlanningLib.sample_data as sd

    monkeypatch.setattr(sd, "generate_study", lambda folder, *a, **k: calls.append(folder))
    folder = sd.sample_study_dir(tmp_path)
    assert calls == [folder]
    assert folder.parent == tmp_path / "sample-data"
