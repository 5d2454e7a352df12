"""Ingest of the real scanner files in ../shared/data/real (skipped when absent)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from theranostics.image import overlap_fraction
from theranostics.io import read_image, scan_directory
from theranostics.quant.suv import expected_decay_factor, suv_factors

pytestmark = pytest.mark.realdata


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def siemens_scan(siemens_maa_dir):
    before = _digests(siemens_maa_dir)
    scan = scan_directory(siemens_maa_dir)
    images = {s.kind: read_image(s) for s in scan.series if s.is_image}
    yield scan, images
    assert _digests(siemens_maa_dir) == before, "ingest modified the input files"


def test_siemens_series_are_classified(siemens_scan):
    scan, _ = siemens_scan
    kinds = sorted(s.kind for s in scan.series)
    assert kinds == ["CT", "NM", "RTSTRUCT"]
    assert len(scan.by_kind("CT")[0].files) == 78
    assert scan.skipped == ()


def test_siemens_nm_multiframe_geometry_and_metadata(siemens_scan):
    _, images = siemens_scan
    nm = images["NM"]
    assert nm.size == (128, 128, 80)
    np.testing.assert_allclose(nm.spacing_mm, (4.7951998710632,) * 3, rtol=1e-9)
    # Geometry comes from DetectorInformationSequence (not the top level, which has none).
    np.testing.assert_allclose(
        nm.image.GetOrigin(), (-307.83351077902, -435.87282209862, 1432.3700920594)
    )
    meta = nm.meta
    assert meta.administration.nuclide == "Tc-99m"
    assert meta.administration.activity_MBq == pytest.approx(142.45)
    assert "MBq" in meta.administration.activity_rule
    assert meta.quantity.units == "counts"
    assert meta.acquisition.start == datetime(2020, 12, 22, 14, 24, 40, 62000)
    # 64 views x 30.001 s from RotationInformationSequence (Siemens keeps it there).
    assert meta.acquisition.duration_s == pytest.approx(64 * 30.001)
    assert meta.administration.datetime is None
    assert any("administration time missing" in p for p in meta.problems)
    assert meta.patient.weight_kg == pytest.approx(74.6)
    assert meta.patient.height_m == pytest.approx(1.702)
    assert float(nm.array().max()) == 8723.0  # LargestImagePixelValue in the header


def test_siemens_ct_stack(siemens_scan):
    _, images = siemens_scan
    ct = images["CT"]
    assert ct.size == (512, 512, 78)
    np.testing.assert_allclose(ct.spacing_mm, (0.9765625, 0.9765625, 5.0))
    # sorted by position: the lowest z (1426 mm) is slice 0 although files list it last
    assert ct.image.GetOrigin()[2] == pytest.approx(1426.0)
    assert ct.meta.quantity.units == "HU"
    values = ct.array()
    assert values.min() >= -1024 and values.max() > 1000  # air and bone present


def test_spect_overlaps_ct_and_shares_frame_of_reference(siemens_scan):
    _, images = siemens_scan
    nm, ct = images["NM"], images["CT"]
    assert nm.meta.frame_of_reference_uid == ct.meta.frame_of_reference_uid
    assert overlap_fraction(ct.image, nm.image) > 0.95


def test_lung_structure_lies_inside_the_spect(siemens_scan, siemens_maa_dir):
    import pydicom

    _, images = siemens_scan
    rt = pydicom.dcmread(next((siemens_maa_dir / "RTSTRUCT").glob("*.dcm")))
    lung_number = next(r.ROINumber for r in rt.StructureSetROISequence if r.ROIName == "Lung")
    contours = next(c for c in rt.ROIContourSequence if c.ReferencedROINumber == lung_number)
    points = np.concatenate(
        [np.asarray(c.ContourData, float).reshape(-1, 3) for c in contours.ContourSequence]
    )
    nm = images["NM"].image
    inside = [
        all(
            -0.5 <= v < n - 0.5
            for v, n in zip(nm.TransformPhysicalPointToContinuousIndex(p.tolist()), nm.GetSize())
        )
        for p in points[:: max(1, len(points) // 500)]
    ]
    assert np.mean(inside) > 0.99


def test_flt_decay_factor_reproduced_from_header(flt_pet_dir):
    for name in ("slice1.dcm", "slice2.dcm"):
        pet = read_image(flt_pet_dir / name)
        stored = pet.meta.quantity.decay_factor
        assert stored is not None
        assert expected_decay_factor(pet.meta) == pytest.approx(stored, rel=1e-4)


def test_flt_suv_factor_closed_form(flt_pet_dir):
    pet = read_image(flt_pet_dir / "slice1.dcm")
    f = suv_factors(pet.meta)
    # Injection 14:17:00, series start 15:23:16.921 (START correction), T1/2 6586.2 s.
    elapsed = (15 * 3600 + 23 * 60 + 16.921) - (14 * 3600 + 17 * 60)
    decayed = 178340011.59668 * 2 ** (-elapsed / 6586.2)
    assert f.decay_corrected_activity_Bq == pytest.approx(decayed, rel=1e-9)
    assert f.suv_bw_factor == pytest.approx(69734.4 / decayed, rel=1e-9)
    assert f.reference_datetime == datetime(1960, 6, 14, 15, 23, 16, 921000)
    assert pet.meta.quantity.units == "Bq/mL"
    assert f.sul_factor is None  # PatientSize absent: no lean body mass
