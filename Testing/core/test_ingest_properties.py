"""Property tests of the metadata parser (hypothesis): whatever numbers a header holds, the
reader either refuses with an InputError or returns metadata inside the plausibility rules
of docs/ingest.md; nothing else escapes."""

from __future__ import annotations

import copy
import math
from datetime import timedelta

import pydicom
import pytest
from conftest import REAL_DATA

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from theranostics import plausibility  # noqa: E402
from theranostics.errors import InputError  # noqa: E402
from theranostics.io.dicom_images import value_transform  # noqa: E402
from theranostics.io.dicom_meta import image_metadata  # noqa: E402
from theranostics.io.dicom_values import numbers  # noqa: E402
from theranostics.nuclides import get_nuclide  # noqa: E402

NM_FILES = sorted((REAL_DATA / "siemens-maa-spect-ct" / "NM").glob("*.dcm"))
pytestmark = pytest.mark.skipif(not NM_FILES, reason="real NM file not found")
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_HEADER = {}


def _nm_header():
    if "nm" not in _HEADER:
        _HEADER["nm"] = pydicom.dcmread(NM_FILES[0], stop_before_pixels=True)
    return copy.deepcopy(_HEADER["nm"])


def _ds(value: float) -> str:
    """A valid DS string (at most 16 characters) of ``value``."""
    return f"{value:.6g}"


numbers_any = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -1.0, 1e30, -1e30, 1e-30, 109.77, 360.4, 6586.2]),
)
positive = st.floats(min_value=1e-12, max_value=1e14, allow_nan=False)


@SETTINGS
@given(
    frame_ms=numbers_any,
    frames=st.integers(min_value=0, max_value=65535),
    activity=numbers_any,
    half_life=st.one_of(st.none(), numbers_any),
    weight=numbers_any,
    height=numbers_any,
    admin_offset_s=st.one_of(st.none(), st.floats(min_value=-4e8, max_value=4e8)),
    lower=st.floats(min_value=-100, max_value=3000),
    width=st.floats(min_value=-50, max_value=500),
)
def test_nm_metadata_is_refused_or_plausible(
    frame_ms, frames, activity, half_life, weight, height, admin_offset_s, lower, width
):
    ds = _nm_header()
    rotation = ds.RotationInformationSequence[0]
    rotation.ActualFrameDuration = str(int(max(min(frame_ms, 2**31 - 1), -(2**31))))
    rotation.NumberOfFramesInRotation = frames
    radio = ds.RadiopharmaceuticalInformationSequence[0]
    radio.RadionuclideTotalDose = _ds(activity)
    if half_life is not None:
        radio.RadionuclideHalfLife = _ds(half_life)
    if admin_offset_s is not None:
        scan = pydicom.valuerep.DT("20201222142440")
        radio.RadiopharmaceuticalStartDateTime = (
            scan - timedelta(seconds=admin_offset_s)
        ).strftime("%Y%m%d%H%M%S")
    ds.PatientWeight = _ds(weight)
    ds.PatientSize = _ds(height)
    window = ds.EnergyWindowInformationSequence[0].EnergyWindowRangeSequence[0]
    window.EnergyWindowLowerLimit, window.EnergyWindowUpperLimit = _ds(lower), _ds(lower + width)
    try:
        meta = image_metadata([ds], [str(NM_FILES[0])], modality="NM")
    except InputError:
        return  # refused cleanly
    acq, admin, patient = meta.acquisition, meta.administration, meta.patient
    assert acq.duration_s is None or 0 < acq.duration_s <= plausibility.DURATION_S.high
    assert admin.activity_MBq is None or (
        plausibility.ACTIVITY_MBQ.low < admin.activity_MBq <= plausibility.ACTIVITY_MBQ.high
    )
    assert patient.weight_kg is None or (
        plausibility.WEIGHT_KG.low <= patient.weight_kg <= plausibility.WEIGHT_KG.high
    )
    assert patient.height_m is None or 0.2 <= patient.height_m <= 3.0
    table = get_nuclide(admin.nuclide).half_life_s
    if admin.half_life_s is not None:
        assert abs(admin.half_life_s / table - 1) <= plausibility.HALF_LIFE_TOLERANCE
    if admin.datetime is not None and acq.start is not None:
        dt = (acq.start - admin.datetime).total_seconds()
        assert dt >= -60.0
        assert dt / table <= plausibility.ELAPSED_HALF_LIVES.high
    assert 0 < lower < lower + width <= plausibility.ENERGY_KEV.high


@SETTINGS
@given(slope=numbers_any, intercept=numbers_any, ct=st.booleans())
def test_rescale_is_refused_or_usable(slope, intercept, ct):
    ds = pydicom.Dataset()
    ds.RescaleSlope, ds.RescaleIntercept = _ds(slope), _ds(intercept)
    try:
        s, b = value_transform(ds, "x.dcm", ct=ct)
    except InputError:
        return
    assert 0 < s <= (100.0 if ct else 1e10)
    assert abs(b) <= (1e4 if ct else 1e10)
    assert math.isfinite(65535 * s + b)


def _raw_ds(ds: pydicom.Dataset, keyword: str, text: str) -> None:
    """Store ``text`` undecoded, as a file read from disk holds it (pydicom decodes on access)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    data = text.encode("latin-1", errors="replace")
    if len(data) % 2:
        data += b" "
    tag = Tag(keyword)
    ds[tag] = RawDataElement(tag, "DS", len(data), data, 0, False, True)


@SETTINGS
@given(
    values=st.lists(
        st.one_of(numbers_any.map(_ds), st.text(alphabet="0123456789.eE+-: xX", max_size=6)),
        max_size=4,
    )
)
def test_multi_valued_numbers_are_refused_or_exact(values):
    ds = pydicom.Dataset()
    _raw_ds(ds, "PixelSpacing", "\\".join(values))
    try:
        result = numbers(ds, "PixelSpacing", 2, path="x.dcm")
    except InputError:
        return
    assert result is None or (len(result) == 2 and all(math.isfinite(v) for v in result))
