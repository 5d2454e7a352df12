"""NIfTI/NRRD with JSON sidecars: round trip, LPS geometry, validation errors."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import SidecarError, TimingError
from theranostics.image import QuantitativeImage
from theranostics.io import read_image
from theranostics.io.sidecar import SCHEMA, sidecar_path, write_image_with_sidecar
from theranostics.metadata import (
    AcquisitionInfo,
    Administration,
    ImageMetadata,
    PatientInfo,
    QuantityInfo,
)


def _image() -> sitk.Image:
    values = np.random.default_rng(1).random((4, 5, 6)).astype(np.float32)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((1.5, 2.0, 3.0))
    image.SetOrigin((-12.0, 34.0, 56.0))
    c, s = np.cos(0.3), np.sin(0.3)
    image.SetDirection((c, -s, 0, s, c, 0, 0, 0, 1))
    return image


META = ImageMetadata(
    modality="NM",
    series_description="SPECT 24 h",
    patient=PatientInfo(weight_kg=80.0, height_m=1.8, sex="M"),
    administration=Administration(
        nuclide="Lu-177",
        radiopharmaceutical="PSMA-617",
        activity_MBq=7400.0,
        datetime=datetime(2024, 5, 1, 8, 0),
    ),
    acquisition=AcquisitionInfo(start=datetime(2024, 5, 2, 8, 0), duration_s=1200.0),
    quantity=QuantityInfo(
        units="Bq/mL", decay_correction="START", decay_reference=datetime(2024, 5, 2, 8, 0)
    ),
)


@pytest.mark.parametrize("name", ["spect.nii.gz", "spect.nrrd", "spect.nii"])
def test_round_trip_keeps_voxels_geometry_and_metadata(tmp_path, name):
    image = _image()
    side = write_image_with_sidecar(QuantitativeImage(image, META), tmp_path / name)
    assert side == tmp_path / "spect.json"
    back = read_image(tmp_path / name)
    assert np.array_equal(back.array(), sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(back.image.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(back.image.GetDirection(), image.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(back.image.GetSpacing(), image.GetSpacing())
    m = back.meta
    assert m.administration == META.administration.__class__(
        nuclide="Lu-177",
        radiopharmaceutical="PSMA-617",
        activity_MBq=7400.0,
        datetime=datetime(2024, 5, 1, 8, 0),
        activity_rule="sidecar administered_activity_MBq",
    )
    assert m.quantity.units == "Bq/mL" and m.quantity.decay_reference == datetime(2024, 5, 2, 8)
    assert m.patient == META.patient
    assert m.acquisition.duration_s == 1200.0
    assert not list(tmp_path.glob(".tmp-*"))  # atomic write left nothing behind


def test_sidecar_path_rules(tmp_path):
    assert sidecar_path(tmp_path / "a.nii.gz").name == "a.json"
    assert sidecar_path(tmp_path / "a.b.nrrd").name == "a.b.json"


def _write_with(tmp_path, data):
    sitk.WriteImage(_image(), str(tmp_path / "x.nrrd"))
    (tmp_path / "x.json").write_text(json.dumps(data))
    return tmp_path / "x.nrrd"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"schema": SCHEMA, "units": "Bq/mL", "nucleid": "Lu-177"}, "nucleid"),
        ({"schema": "other", "units": "Bq/mL"}, "schema"),
        ({"schema": SCHEMA, "units": "kBq/cc"}, "units"),
        ({"schema": SCHEMA, "units": "Bq/mL", "nuclide": "Unobtainium-1"}, "nuclide"),
        ({"schema": SCHEMA, "units": "Bq/mL", "administered_activity_MBq": -5}, "administered"),
        ({"schema": SCHEMA, "units": "Bq/mL", "administered_activity_MBq": "7400"}, "administered"),
        (
            {"schema": SCHEMA, "units": "Bq/mL", "acquisition_datetime": "yesterday"},
            "acquisition_datetime",
        ),
        (
            {"schema": SCHEMA, "units": "Bq/mL", "decay_correction": "START"},
            "decay_reference_datetime",
        ),
        ({"schema": SCHEMA, "units": "Bq/mL", "patient_sex": "female"}, "patient_sex"),
    ],
)
def test_invalid_sidecars_are_refused_with_the_key(tmp_path, data, key):
    path = _write_with(tmp_path, data)
    with pytest.raises(SidecarError) as err:
        read_image(path)
    assert key in str(err.value) and "x.json" in str(err.value) and "Fix:" in str(err.value)


def test_sidecar_timing_and_syntax_errors(tmp_path):
    path = _write_with(
        tmp_path,
        {
            "schema": SCHEMA,
            "units": "Bq/mL",
            "administration_datetime": "2024-05-02T08:00:00",
            "acquisition_datetime": "2024-05-01T08:00:00",
        },
    )
    with pytest.raises(TimingError):
        read_image(path)
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(SidecarError, match="not valid JSON"):
        read_image(path)


def test_image_without_sidecar_reads_with_unknown_units(tmp_path):
    sitk.WriteImage(_image(), str(tmp_path / "tia.nrrd"))
    image = read_image(tmp_path / "tia.nrrd")
    assert image.meta.quantity.units == "1"
    assert any("no sidecar" in p for p in image.meta.problems)
