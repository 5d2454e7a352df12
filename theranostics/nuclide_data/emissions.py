"""Emission data per radionuclide: what each decay emits, for dosimetry.

Source: ICRP Publication 107 (Eckerman & Endo 2008, "Nuclear decay data for dosimetric
calculations", Ann. ICRP 38(3)), read from the PyPI package ``icrp107-database``, which stores
for each nuclide the half-life and, per radiation type, lists of ``[energy_MeV, yield_per_decay]``
(mean energy for beta branches) plus the beta spectrum ``b-spectra`` as
``[energy_MeV, number_per_MeV_per_decay]``.

The radiations are grouped the way dosimetry needs them:

* electrons: beta- and beta+ (kinetic energy; spectrum), internal-conversion (``IE``) and Auger
  electrons (discrete lines);
* photons: gamma, X-ray and annihilation lines;
* alphas: alpha particles and their recoil nuclei (ranges < 0.1 mm in tissue: always local).

A user can add or override a nuclide with a JSON file in the same format as the ICRP 107
package (see ``theranostics/data/user_nuclide_example.json`` and ``docs/dose-engine.md``):
pass it to :func:`register_nuclide_file` or list it in the environment variable
``THERANOSTICS_NUCLIDE_FILES`` (``os.pathsep``-separated).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import NuclideError
from ..nuclides import normalise_nuclide_name

#: Seconds per ICRP 107 time unit.
TIME_UNIT_S = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "y": 365.25 * 86400.0,
}

#: Radiation types of the ICRP 107 files, grouped for dosimetry.
ELECTRON_LINE_TYPES = ("IE", "auger")
BETA_TYPES = ("beta-", "beta+")
PHOTON_TYPES = ("gamma", "X", "annihilation")
ALPHA_TYPES = ("alpha", "alpha recoil")

_USER_FILES: list[Path] = []


@dataclass(frozen=True)
class EmissionData:
    """What one decay of a nuclide (or of a chain, per decay of its parent) emits.

    Energies in MeV, yields per decay. Arrays are read-only numpy arrays.

    Attributes:
        key: nuclide key (``"Lu-177"``).
        half_life_s: physical half-life of the (parent) nuclide, s.
        beta_spectra: tuple of ``(energy_MeV, number_per_MeV_per_decay)`` array pairs, one
            per nuclide contributing a beta spectrum (already weighted by decays per parent
            decay), each rescaled so that its mean energy equals the ICRP 107 mean
            beta energy.
        beta_energy_MeV: mean beta (- and +) kinetic energy per decay, MeV.
        electron_lines: ``(n, 2)`` array of discrete electron lines (IE, Auger):
            energy MeV, yield per decay.
        photon_lines: ``(n, 2)`` array of photon lines (gamma, X, annihilation).
        alpha_energy_MeV: alpha plus recoil energy per decay, MeV.
        by_type_MeV: mean energy per decay for each ICRP 107 radiation type, MeV.
        members: ``(nuclide key, decays per parent decay)`` for each nuclide included.
        source: where the data came from (``"ICRP 107"`` or a file path).
    """

    key: str
    half_life_s: float
    beta_spectra: tuple = field(repr=False)
    beta_energy_MeV: float
    electron_lines: np.ndarray = field(repr=False)
    photon_lines: np.ndarray = field(repr=False)
    alpha_energy_MeV: float
    by_type_MeV: dict = field(repr=False)
    members: tuple = (("", 1.0),)
    source: str = "ICRP 107"

    @property
    def half_life_h(self) -> float:
        """Physical half-life in hours."""
        return self.half_life_s / 3600.0

    @property
    def electron_line_energy_MeV(self) -> float:
        """Mean energy per decay in IE and Auger electrons, MeV."""
        lines = self.electron_lines
        return float(np.sum(lines[:, 0] * lines[:, 1])) if lines.size else 0.0

    @property
    def electron_energy_MeV(self) -> float:
        """Mean electron energy per decay (beta, IE, Auger), MeV: the ICRP 107 'electrons'."""
        return self.beta_energy_MeV + self.electron_line_energy_MeV

    @property
    def photon_energy_MeV(self) -> float:
        """Mean photon energy per decay (gamma, X, annihilation), MeV."""
        lines = self.photon_lines
        return float(np.sum(lines[:, 0] * lines[:, 1])) if lines.size else 0.0

    @property
    def nonpenetrating_energy_MeV(self) -> float:
        """Electron plus alpha energy per decay, MeV: what local deposition deposits (MIRD)."""
        return self.electron_energy_MeV + self.alpha_energy_MeV

    @property
    def total_energy_MeV(self) -> float:
        """All emitted energy per decay (electrons, photons, alphas), MeV."""
        return self.nonpenetrating_energy_MeV + self.photon_energy_MeV


def register_nuclide_file(path: str | Path) -> str:
    """Add a user nuclide data file (ICRP 107 JSON format); returns the nuclide key.

    A user file overrides the ICRP 107 record of the same nuclide.

    Raises:
        NuclideError: the file is missing, is not JSON, or lacks ``name``, ``half_life``,
            ``time_unit`` or ``emissions``.
    """
    p = Path(path)
    record = _read_record_file(p)
    key = _key_of(record["name"], p)
    if p not in _USER_FILES:
        _USER_FILES.append(p)
    _user_records.cache_clear()
    load_emissions.cache_clear()
    return key


def _key_of(name: str, path: Path | None) -> str:
    key = normalise_nuclide_name(name)
    if key is None:
        raise NuclideError(
            f"nuclide name {name!r} is not recognised",
            path=path,
            tag="name",
            fix="write it as symbol-mass, e.g. 'Lu-177' or 'Tc-99m'",
        )
    return key


def _read_record_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        if isinstance(data, str):  # the ICRP 107 package double-encodes its files
            data = json.loads(data)
    except FileNotFoundError:
        raise NuclideError("nuclide data file not found", path=path, fix="check the path") from None
    except json.JSONDecodeError as exc:
        raise NuclideError(
            f"nuclide data file is not valid JSON ({exc})", path=path, fix="fix the JSON syntax"
        ) from None
    for required in ("name", "half_life", "time_unit", "emissions"):
        if required not in data:
            raise NuclideError(
                "nuclide data file lacks a required key",
                path=path,
                tag=required,
                fix="see theranostics/data/user_nuclide_example.json for the format",
            )
    if data["time_unit"] not in TIME_UNIT_S:
        raise NuclideError(
            f"unknown time unit {data['time_unit']!r}",
            path=path,
            tag="time_unit",
            fix=f"use one of {sorted(TIME_UNIT_S)}",
        )
    return data


@cache
def _user_records() -> dict:
    files = list(_USER_FILES)
    env = os.environ.get("THERANOSTICS_NUCLIDE_FILES", "")
    files += [Path(p) for p in env.split(os.pathsep) if p]
    records = {}
    for path in files:
        record = _read_record_file(path)
        records[_key_of(record["name"], path)] = (record, str(path))
    return records


def _icrp107_record(key: str) -> dict | None:
    from importlib import resources

    entry = resources.files("icrp107_database") / "icrp107" / f"{key}.json"
    if not entry.is_file():
        return None
    data = json.loads(entry.read_text())
    return json.loads(data) if isinstance(data, str) else data


def raw_record(name: str) -> tuple[dict, str]:
    """The raw ICRP 107-format record for a nuclide and its source (user file or ICRP 107).

    Raises:
        NuclideError: unknown name or no data.
    """
    key = normalise_nuclide_name(name) if name else None
    if key is None:
        raise NuclideError(
            f"{name!r} is not a recognised nuclide name",
            tag="nuclide",
            fix="write it as symbol-mass, e.g. 'Lu-177', 'Y-90' or 'Ac-225'",
        )
    user = _user_records()
    if key in user:
        return user[key]
    record = _icrp107_record(key)
    if record is None:
        raise NuclideError(
            f"nuclide {key!r} has no ICRP 107 decay data and no user data file",
            tag="nuclide",
            fix="add it with a data file (THERANOSTICS_NUCLIDE_FILES, docs/dose-engine.md)",
        )
    return record, "ICRP 107"


def _member_record(key: str) -> dict:
    """Record of a chain member by its exact key (``radioactivedecay`` spelling)."""
    user = _user_records()
    if key in user:
        return user[key][0]
    record = _icrp107_record(key)
    if record is None:
        raise NuclideError(
            f"decay-chain member {key!r} has no ICRP 107 decay data",
            tag="nuclide",
            fix="add it with a user data file, or pass include_progeny=False",
        )
    return record


def _lines(emissions: dict, types) -> np.ndarray:
    rows = [row[:2] for t in types for row in emissions.get(t, []) or []]
    arr = np.asarray(rows, dtype=float).reshape(-1, 2)
    return arr[arr[:, 1] > 0]


def _single(key: str, record: dict, source: str, weight: float) -> dict:
    """Emission components of one nuclide, weighted by its decays per parent decay."""
    em = record["emissions"]
    by_type = {
        t: weight * float(sum(r[0] * r[1] for r in (em.get(t) or [])))
        for t in em
        if t != "b-spectra" and em.get(t)
    }
    beta_mean = sum(by_type.get(t, 0.0) for t in BETA_TYPES)
    spectra = []
    raw = em.get("b-spectra") or []
    if beta_mean > 0 and len(raw) > 1:
        spec = np.asarray(raw, dtype=float)[:, :2]
        e_MeV, n_per_MeV = spec[:, 0], np.clip(spec[:, 1], 0.0, None)
        mean_tab = float(np.trapezoid(e_MeV * n_per_MeV, e_MeV))
        if mean_tab > 0:
            # Rescale so that the spectrum carries the ICRP 107 mean beta energy exactly
            # (the tabulated spectrum integrates to it within ~0.3 %).
            spectra.append((e_MeV, n_per_MeV * beta_mean / mean_tab))
    elif beta_mean > 0:
        # No spectrum given: treat each branch as a line at its mean energy.
        pass
    lines_e = _lines(em, ELECTRON_LINE_TYPES)
    if beta_mean > 0 and not spectra:
        lines_e = np.vstack([lines_e, _lines(em, BETA_TYPES)])
        beta_mean = 0.0
    lines_e[:, 1] *= weight
    lines_p = _lines(em, PHOTON_TYPES)
    lines_p[:, 1] *= weight
    alpha = sum(by_type.get(t, 0.0) for t in ALPHA_TYPES)
    return {
        "spectra": spectra,
        "beta": beta_mean,
        "electron_lines": lines_e,
        "photon_lines": lines_p,
        "alpha": alpha,
        "by_type": by_type,
    }


@cache
def load_emissions(name: str, include_progeny: bool = True) -> EmissionData:
    """Emission data of a nuclide, per decay of that nuclide.

    With ``include_progeny`` (default), radioactive progeny shorter-lived than the parent are
    added with their decays per parent decay (branching products from ``radioactivedecay``),
    assuming they decay where the parent decayed (no redistribution of daughters): for
    225Ac this adds 221Fr, 217At, 213Bi, 213Po, 209Tl and 209Pb. See
    :func:`theranostics.nuclide_data.chains.progeny_decays_per_parent_decay`.

    Raises:
        NuclideError: unknown nuclide or unusable data.
    """
    from .chains import progeny_decays_per_parent_decay

    record, source = raw_record(name)
    key = _key_of(record["name"], None) if source == "ICRP 107" else normalise_nuclide_name(name)
    half_life_s = float(record["half_life"]) * TIME_UNIT_S[record["time_unit"]]
    members = [(key, 1.0)]
    if include_progeny:
        members += progeny_decays_per_parent_decay(key, half_life_s)
    parts = []
    for member, weight in members:
        rec = record if member == key else _member_record(member)
        parts.append(_single(member, rec, source, weight))
    by_type: dict[str, float] = {}
    for p in parts:
        for t, v in p["by_type"].items():
            by_type[t] = by_type.get(t, 0.0) + v
    electron_lines = np.vstack([p["electron_lines"] for p in parts])
    photon_lines = np.vstack([p["photon_lines"] for p in parts])
    spectra = tuple(s for p in parts for s in p["spectra"])
    for arr in (electron_lines, photon_lines, *[a for s in spectra for a in s]):
        arr.setflags(write=False)
    return EmissionData(
        key=key,
        half_life_s=half_life_s,
        beta_spectra=spectra,
        beta_energy_MeV=float(sum(p["beta"] for p in parts)),
        electron_lines=electron_lines,
        photon_lines=photon_lines,
        alpha_energy_MeV=float(sum(p["alpha"] for p in parts)),
        by_type_MeV=by_type,
        members=tuple(members),
        source=source,
    )


def get_emissions(name: str, include_progeny: bool = True) -> EmissionData:
    """:func:`load_emissions` for any accepted spelling of the name (``"177Lu"``, ``"Y90"``)."""
    key = normalise_nuclide_name(name) if name else None
    if key is None:
        raise NuclideError(
            f"{name!r} is not a recognised nuclide name",
            tag="nuclide",
            fix="write it as symbol-mass, e.g. 'Lu-177', 'Y-90' or 'Ac-225'",
        )
    return load_emissions(key, include_progeny)
