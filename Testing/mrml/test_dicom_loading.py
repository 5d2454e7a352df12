"""The DICOM plugin's Lib: NM/PET series become quantitative volume nodes with metadata, and
volumes loaded by another plugin get their metadata from the files behind them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from TheranosticPlanningLib.dicom_loading import (
    attach_metadata_from_dicom,
    examine_files,
    load_quantitative_series,
)
from TheranosticPlanningLib.node_attributes import read_metadata
from TheranosticPlanningLib.volumes import image_from_volume_node

from theranostics.errors import InputError, MissingTagError
from theranostics.io import read_image
from theranostics.quant.suv import suv_factors


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.dcm"))


def test_examine_offers_pet_and_spect_but_not_ct(synthetic_study_small):
    dicom = synthetic_study_small / "dicom"
    files = _files(dicom / "pet_planning") + _files(dicom / "spect_024h")
    offered = examine_files(files)
    assert sorted(s.kind for s in offered) == ["NM", "PT"]
    pet = next(s for s in offered if s.kind == "PT")
    assert pet.confidence > 0.5 and pet.warning == ""
    spect = next(s for s in offered if s.kind == "NM")
    assert "calibration" in spect.warning


def test_pet_loads_as_suv_with_the_core_factor(mrml, synthetic_study_small):
    folder = synthetic_study_small / "dicom" / "pet_planning" / "PT"
    node = load_quantitative_series(_files(folder), mrml.scene, units="SUVbw")
    reference = read_image(folder)
    factor = suv_factors(reference.meta).suv_bw_factor
    got = image_from_volume_node(node)
    assert got.meta.quantity.units == "SUVbw"
    np.testing.assert_allclose(got.array(), reference.array() * factor, rtol=1e-5)


def test_spect_loads_in_Bq_per_mL_with_calibration(mrml, synthetic_study_small):
    truth = json.loads((synthetic_study_small / "truth" / "ground_truth.json").read_text())
    nm = _files(synthetic_study_small / "dicom" / "spect_024h" / "NM")
    node = load_quantitative_series(nm, mrml.scene, calibration_cps_per_MBq=10.0)
    image = image_from_volume_node(node)
    assert image.meta.quantity.units == "Bq/mL"
    total_MBq = image.array().sum() * np.prod(image.image.GetSpacing()) / 1000.0 / 1e6
    expected = truth["time_points"][1]["total_activity_MBq"]
    assert total_MBq == pytest.approx(expected, rel=0.05)  # Poisson noise, blur at the edges


def test_suv_refused_naming_the_missing_weight(mrml, synthetic_study_small, tmp_path):
    folder = synthetic_study_small / "dicom" / "pet_planning" / "PT"
    copies = []
    for f in _files(folder):
        ds = pydicom.dcmread(f)
        del ds.PatientWeight
        ds.save_as(tmp_path / Path(f).name)
        copies.append(str(tmp_path / Path(f).name))
    with pytest.raises(MissingTagError, match="PatientWeight"):
        load_quantitative_series(copies, mrml.scene, units="SUVbw")
    with pytest.raises(InputError, match="one was expected"):
        load_quantitative_series([], mrml.scene)


@pytest.mark.realdata
def test_metadata_attached_from_the_database_lookup(mrml, siemens_maa_dir):
    nm = _files(siemens_maa_dir / "NM")
    # a volume as Slicer's generic plugin leaves it: voxels, no Theranostics metadata
    node = mrml.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "MAA")
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in nm]
    node.SetAttribute("DICOM.instanceUIDs", " ".join(uids))
    database = dict(zip(uids, nm))
    attach_metadata_from_dicom(node, lambda uid: database.get(uid, ""))
    meta = read_metadata(node)
    assert meta.modality == "NM"
    assert meta.administration.nuclide == "Tc-99m"
    assert meta.administration.activity_MBq == pytest.approx(142.45, rel=1e-3)


def test_metadata_lookup_errors_name_the_node(mrml):
    node = mrml.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "loose")
    with pytest.raises(MissingTagError, match=r"DICOM\.instanceUIDs"):
        attach_metadata_from_dicom(node, lambda uid: "")
    node.SetAttribute("DICOM.instanceUIDs", "1.2.3 1.2.4")
    with pytest.raises(MissingTagError, match="none of the 2 instances"):
        attach_metadata_from_dicom(node, lambda uid: "")


def _cached_tags(files: list[str]) -> dict[tuple[str, str], str]:
    """The examine tags of ``files`` as the DICOM database holds them after import."""
    from TheranosticPlanningLib.dicom_loading import EXAMINE_TAGS, header_file_value

    return {(f, tag): header_file_value(f, tag) for f in files for tag in EXAMINE_TAGS.values()}


@pytest.mark.realdata
def test_examine_from_database_tags_offers_the_same_and_opens_no_ct_slice(siemens_maa_dir):
    """Issue 14: examine reads the tags the DICOM database cached (``fileValue``), as
    Slicer's plugins do, and opens only the first file of an NM/PET series. CT files are
    given under paths that do not exist: opening one would fail."""
    files = sorted(str(p) for p in siemens_maa_dir.rglob("*") if p.is_file())
    cache = _cached_tags(files)
    gone = {f: f"/nonexistent{f}" for f in files if "/CT/" in f}
    assert len(gone) == 78
    renamed = {(gone.get(f, f), tag): value for (f, tag), value in cache.items()}
    offered = examine_files([gone.get(f, f) for f in files], lambda f, tag: renamed[(f, tag)])
    expected = examine_files(files)
    assert [(s.name, s.kind, s.files, s.confidence, s.warning) for s in offered] == [
        (s.name, s.kind, s.files, s.confidence, s.warning) for s in expected
    ]
    assert [s.kind for s in offered] == ["NM"]


def test_examine_from_database_tags_matches_reading_every_header(synthetic_study_small):
    dicom = synthetic_study_small / "dicom"
    files = _files(dicom / "pet_planning") + _files(dicom / "spect_024h")
    cache = _cached_tags(files)
    offered = examine_files(files, lambda f, tag: cache[(f, tag)])
    expected = examine_files(files)
    assert [(s.name, s.kind, s.files, s.confidence, s.warning) for s in offered] == [
        (s.name, s.kind, s.files, s.confidence, s.warning) for s in expected
    ]
