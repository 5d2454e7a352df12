"""Radionuclide identities and half-lives.

Half-lives come from ICRP Publication 107 (Eckerman & Endo 2008, "Nuclear decay data for
dosimetric calculations", Ann. ICRP 38(3)), read from the PyPI package ``icrp107-database``,
or from a user nuclide data file (see :mod:`theranostics.nuclide_data`).
Nuclides are named by keys like ``"Lu-177"`` and ``"Tc-99m"``; :func:`normalise_nuclide_name`
turns the many spellings found in DICOM headers and user input into that key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import NuclideError

_ELEMENTS = {
    "H": "hydrogen",
    "C": "carbon",
    "N": "nitrogen",
    "O": "oxygen",
    "F": "fluorine",
    "P": "phosphorus",
    "Cu": "copper",
    "Ga": "gallium",
    "Ge": "germanium",
    "Rb": "rubidium",
    "Sr": "strontium",
    "Y": "yttrium",
    "Zr": "zirconium",
    "Tc": "technetium",
    "In": "indium",
    "I": "iodine",
    "Sm": "samarium",
    "Ho": "holmium",
    "Lu": "lutetium",
    "Tb": "terbium",
    "Re": "rhenium",
    "Tl": "thallium",
    "Pb": "lead",
    "Bi": "bismuth",
    "Po": "polonium",
    "At": "astatine",
    "Fr": "francium",
    "Ra": "radium",
    "Ac": "actinium",
    "Th": "thorium",
    "Sc": "scandium",
    "Er": "erbium",
    "Xe": "xenon",
    "Kr": "krypton",
    "Co": "cobalt",
    "Cr": "chromium",
    "Se": "selenium",
    "Zn": "zinc",
}
_SYMBOL_BY_NAME = {name: sym for sym, name in _ELEMENTS.items()}
_SYMBOL_BY_LOWER = {sym.lower(): sym for sym in _ELEMENTS}


@dataclass(frozen=True)
class Nuclide:
    """A radionuclide and its physical half-life.

    Attributes:
        key: canonical name, element symbol, hyphen, mass number, optional ``m``
            (``"Lu-177"``, ``"Tc-99m"``).
        half_life_s: physical half-life in seconds (ICRP 107).
    """

    key: str
    half_life_s: float

    @property
    def half_life_h(self) -> float:
        """Physical half-life in hours."""
        return self.half_life_s / 3600.0

    @property
    def decay_constant_per_h(self) -> float:
        """Physical decay constant lambda = ln 2 / T1/2, in 1/h."""
        return math.log(2.0) / self.half_life_h

    @property
    def decay_constant_per_s(self) -> float:
        """Physical decay constant lambda = ln 2 / T1/2, in 1/s."""
        return math.log(2.0) / self.half_life_s


def normalise_nuclide_name(text: str) -> str | None:
    """The nuclide key (``"Lu-177"``) for a free-text name, or ``None`` if none is found.

    Accepts ``177Lu``, ``Lu177``, ``Lu-177``, ``lu 177``, ``Tc99m``, ``99mTc``, ``99m Technetium``,
    ``Technetium-99m``, DICOM code meanings such as ``F^18^[^18^Fluorine]`` and
    ``^177^Lutetium``.
    """
    if not text:
        return None
    s = re.sub(r"[\^\[\]_]", " ", str(text)).strip()
    # element symbol or name, with the mass number before or after it
    word = r"([A-Za-z]+)"
    mass = r"(\d{1,3})\s*(m?)"
    for pattern, order in (
        (rf"^\s*{word}\s*-?\s*{mass}\b", "em"),
        (rf"^\s*{mass}\s*-?\s*{word}\b", "me"),
        (rf"\b{word}\s*-?\s*{mass}\b", "em"),
        (rf"\b{mass}\s*-?\s*{word}\b", "me"),
    ):
        for match in re.finditer(pattern, s):
            if order == "em":
                elem, number, meta = match.group(1), match.group(2), match.group(3)
            else:
                number, meta, elem = match.group(1), match.group(2), match.group(3)
            symbol = _SYMBOL_BY_LOWER.get(elem.lower()) or _SYMBOL_BY_NAME.get(elem.lower())
            if symbol is None and elem.lower().endswith("m") and order == "em":
                continue
            if symbol is not None:
                return f"{symbol}-{int(number)}{'m' if meta else ''}"
    return None


def get_nuclide(name: str) -> Nuclide:
    """The :class:`Nuclide` for any accepted spelling of its name.

    Raises:
        NuclideError: the name is not recognised or has no ICRP 107 data.
    """
    key = normalise_nuclide_name(name)
    if key is None:
        raise NuclideError(
            f"{name!r} is not a recognised nuclide name",
            tag="nuclide",
            fix="write it as symbol-mass, e.g. 'Lu-177' or 'Tc-99m'",
        )
    # One reader for decay data: ICRP 107, or a user data file registered for this nuclide.
    from .nuclide_data.emissions import TIME_UNIT_S, raw_record

    record, _ = raw_record(key)
    return Nuclide(
        key=key, half_life_s=float(record["half_life"]) * TIME_UNIT_S[record["time_unit"]]
    )
