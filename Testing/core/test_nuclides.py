"""Nuclide names as written in DICOM headers and by users, and ICRP 107 half-lives."""

import pytest

from theranostics.errors import NuclideError
from theranostics.nuclides import get_nuclide, normalise_nuclide_name


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("177Lu", "Lu-177"), ("Lu177", "Lu-177"), ("lu-177", "Lu-177"),
        ("^177^Lutetium", "Lu-177"), ("Lutetium-177", "Lu-177"),
        ("99m Technetium", "Tc-99m"), ("Tc99m", "Tc-99m"), ("Technetium-99m", "Tc-99m"),
        ("F^18^[^18^Fluorine]", "F-18"), ("90Y", "Y-90"), ("Ga68", "Ga-68"),
        ("In-111", "In-111"), ("Tb161", "Tb-161"), ("Ac-225", "Ac-225"), ("I-131", "I-131"),
        ("", None), ("hello", None), ("Lu", None),
    ],
)  # fmt: skip
def test_normalise_nuclide_name(text, key):
    assert normalise_nuclide_name(text) == key


@pytest.mark.parametrize(
    ("name", "half_life_h"),
    # ICRP 107 (and DESIGN.md): 177Lu 6.647 d, 90Y 64.1 h, 131I 8.0207 d, 161Tb 6.906 d,
    # 225Ac 10.0 d, 18F 109.77 min, 99mTc 6.015 h
    [
        ("Lu-177", 6.647 * 24),
        ("Y-90", 64.1),
        ("I-131", 8.0207 * 24),
        ("Tb-161", 6.906 * 24),
        ("Ac-225", 240.0),
        ("F-18", 109.77 / 60),
        ("Tc-99m", 6.015),
    ],
)
def test_icrp107_half_lives(name, half_life_h):
    assert get_nuclide(name).half_life_h == pytest.approx(half_life_h, rel=1e-4)


def test_unknown_nuclide_is_a_clear_error():
    with pytest.raises(NuclideError, match="Fix:"):
        get_nuclide("Unobtainium")
    with pytest.raises(NuclideError, match="Lu-999"):
        get_nuclide("Lu-999")
