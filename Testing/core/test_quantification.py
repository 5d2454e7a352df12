"""Decay arithmetic, SPECT calibration, SUV normalisations and the Bq/MBq rule, against
closed forms."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_factory import nm_multiframe, pet_slice, write, write_series
from pydicom.uid import generate_uid

from theranostics.errors import (
    MissingTagError,
    PlausibilityError,
    QuantificationError,
    UnitsError,
)
from theranostics.image import QuantitativeImage
from theranostics.io import read_image
from theranostics.metadata import ImageMetadata, QuantityInfo
from theranostics.nuclides import get_nuclide
from theranostics.quant.decay import (
    acquisition_average_factor,
    decay_factor,
    frame_reference_offset_s,
)
from theranostics.quant.spect import counts_to_activity_concentration
from theranostics.quant.suv import body_surface_area_m2, lean_body_mass_kg, suv_factors


def test_decay_closed_forms():
    assert decay_factor(6586.2, 6586.2) == pytest.approx(0.5)
    assert decay_factor(-6586.2, 6586.2) == pytest.approx(2.0)
    # mean of exp(-lambda t) over [0, T] = (1 - exp(-lambda T)) / (lambda T), by quadrature
    t = np.linspace(0, 3600.0, 200001)
    lam = math.log(2) / 6586.2
    assert acquisition_average_factor(3600.0, 6586.2) == pytest.approx(
        np.trapezoid(np.exp(-lam * t), t) / 3600.0, rel=1e-9
    )
    # the frame reference offset is where the instantaneous activity equals the mean
    offset = frame_reference_offset_s(3600.0, 6586.2)
    assert math.exp(-lam * offset) == pytest.approx(acquisition_average_factor(3600.0, 6586.2))
    assert 0 < offset < 1800.0  # earlier than mid-frame for a decaying source


def test_lean_body_mass_and_bsa_published_formulas():
    # Janmahasatian 2005 worked by hand for 70 kg, 1.70 m (BMI 24.22 kg/m^2):
    # male 648900 / 11911.8 = 54.48 kg, female 648900 / 14690.0 = 44.17 kg
    assert lean_body_mass_kg(70, 1.7, "M") == pytest.approx(54.48, abs=0.01)
    assert lean_body_mass_kg(70, 1.7, "F") == pytest.approx(44.17, abs=0.01)
    with pytest.raises(ValueError):
        lean_body_mass_kg(70, 1.7, "O")
    # Du Bois: 70 kg, 170 cm -> about 1.81 m^2
    assert body_surface_area_m2(70, 1.7) == pytest.approx(1.81, abs=0.01)


def test_suv_on_written_pet_series(tmp_path):
    uid = generate_uid()
    write_series([pet_slice(uid, 3.0 * k) for k in range(3)], tmp_path)
    pet = read_image(tmp_path)
    f = suv_factors(pet.meta)
    decayed = 370e6 * 2 ** (-3600.0 / 6586.2)  # 09:00 injection, 10:00 series (START)
    assert f.decay_corrected_activity_Bq == pytest.approx(decayed)
    assert f.suv_bw_factor == pytest.approx(70000.0 / decayed)
    lbm = lean_body_mass_kg(70, 1.7, "F")
    assert f.sul_factor == pytest.approx(lbm * 1000 / decayed)
    assert f.suv_bsa_factor == pytest.approx(body_surface_area_m2(70, 1.7) * 1e4 / decayed)
    suv = pet.array() * f.suv_bw_factor
    assert suv.mean() == pytest.approx(200.0 * 70000.0 / decayed)


@pytest.mark.parametrize(
    ("stored", "rule", "expected_MBq"),
    [
        ("370000000", "auto", 370.0),
        ("370", "auto", 370.0),
        ("3700000", "Bq", 3.7),
        ("3700", "MBq", 3700.0),
    ],
)
def test_activity_unit_rule_and_override(tmp_path, stored, rule, expected_MBq):
    uid = generate_uid()

    def slices():
        for k in range(2):
            ds = pet_slice(uid, 3.0 * k)
            ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose = stored
            yield ds

    write_series(list(slices()), tmp_path)
    pet = read_image(tmp_path, activity_unit=rule)
    assert pet.meta.administration.activity_MBq == pytest.approx(expected_MBq)
    assert pet.meta.administration.activity_rule  # says which rule fired
    if rule == "auto" and stored == "370":
        assert any("only makes sense in MBq" in p for p in pet.meta.problems)


@pytest.mark.parametrize(("stored", "rule"), [("370", "Bq"), ("370000000", "MBq")])
def test_activity_override_to_an_impossible_activity_is_refused(tmp_path, stored, rule):
    """370 Bq or 370 TBq is no patient's administration (0.1 MBq to 100 GBq)."""
    uid = generate_uid()
    slices = [pet_slice(uid, 3.0 * k) for k in range(2)]
    for ds in slices:
        ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose = stored
    write_series(slices, tmp_path)
    with pytest.raises(PlausibilityError, match=r"administered activity .* is impossible"):
        read_image(tmp_path, activity_unit=rule)


def _nm(tmp_path, counts=1000):
    write(nm_multiframe(generate_uid(), counts=counts), tmp_path / "nm.dcm")
    return read_image(tmp_path / "nm.dcm")


def test_spect_counts_to_bq_per_ml_closed_form(tmp_path):
    nm = _nm(tmp_path)
    cal = 12.5  # cps/MBq
    out = counts_to_activity_concentration(nm, cal, reference="none")
    voxel_mL = 4.0**3 / 1000.0
    mean_MBq = 1000.0 / (cal * 1200.0)  # counts / (cps/MBq * s)
    assert out.array() == pytest.approx(np.full((3, 4, 5), mean_MBq * 1e6 / voxel_mL), rel=1e-6)
    assert out.meta.quantity.units == "Bq/mL" and out.meta.quantity.decay_correction == "NONE"
    # input untouched
    assert nm.meta.quantity.units == "counts" and nm.array().max() == 1000.0


def test_spect_decay_correction_to_start_and_administration(tmp_path):
    nm = _nm(tmp_path)
    hl = get_nuclide("Lu-177").half_life_s
    at_start = counts_to_activity_concentration(nm, 12.5)
    mean = counts_to_activity_concentration(nm, 12.5, reference="none")
    ratio = at_start.array().mean() / mean.array().mean()
    assert ratio == pytest.approx(1 / acquisition_average_factor(1200.0, hl), rel=1e-6)
    assert at_start.meta.quantity.decay_reference == datetime(2024, 5, 2, 8, 0)
    at_admin = counts_to_activity_concentration(nm, 12.5, reference="administration")
    assert at_admin.array().mean() / at_start.array().mean() == pytest.approx(
        2 ** (24 * 3600.0 / hl), rel=1e-6
    )
    assert at_admin.meta.quantity.decay_correction == "ADMIN"
    custom = datetime(2024, 5, 3, 8, 0)
    later = counts_to_activity_concentration(nm, 12.5, reference=custom)
    assert later.meta.quantity.decay_correction == "REF"
    assert later.array().mean() / at_start.array().mean() == pytest.approx(
        2 ** (-24 * 3600.0 / hl), rel=1e-6
    )


def test_already_quantitative_spect_is_recognised(tmp_path):
    nm = _nm(tmp_path)
    quant = counts_to_activity_concentration(nm, 12.5)
    with pytest.raises(QuantificationError, match="already quantitative"):
        counts_to_activity_concentration(quant, 12.5)
    same = counts_to_activity_concentration(quant, None)
    assert same is quant


def test_spect_calibration_errors(tmp_path):
    nm = _nm(tmp_path)
    with pytest.raises(Exception, match="calibration factor"):
        counts_to_activity_concentration(nm, -1.0)
    no_duration = QuantitativeImage(
        nm.image,
        nm.meta.replace(acquisition=nm.meta.acquisition.__class__(start=nm.meta.acquisition.start)),
    )
    with pytest.raises(MissingTagError, match="duration"):
        counts_to_activity_concentration(no_duration, 12.5)
    hu = QuantitativeImage(nm.image, ImageMetadata(quantity=QuantityInfo(units="HU")))
    with pytest.raises(UnitsError):
        counts_to_activity_concentration(hu, 12.5)


def test_suv_refused_for_counts(tmp_path):
    nm = _nm(tmp_path)
    with pytest.raises(QuantificationError, match="Bq/mL"):
        suv_factors(nm.meta)


def test_suv_with_admin_decay_correction_does_not_decay_dose():
    image = sitk.Image(2, 2, 2, sitk.sitkFloat32)
    meta = ImageMetadata(
        modality="PT",
        patient=ImageMetadata().patient.__class__(weight_kg=80.0),
        administration=ImageMetadata().administration.__class__(
            nuclide="F-18", activity_MBq=300.0, datetime=datetime(2024, 1, 1, 9)
        ),
        quantity=QuantityInfo(
            units="Bq/mL", decay_correction="ADMIN", decay_reference=datetime(2024, 1, 1, 9)
        ),
        acquisition=ImageMetadata().acquisition.__class__(
            start=datetime(2024, 1, 1, 9) + timedelta(hours=1), duration_s=600.0
        ),
    )
    f = suv_factors(QuantitativeImage(image, meta).meta)
    assert f.decay_corrected_activity_Bq == pytest.approx(300e6)
    assert f.suv_bw_factor == pytest.approx(80e3 / 300e6)
