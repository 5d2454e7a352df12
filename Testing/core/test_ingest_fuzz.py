"""A deterministic corpus of header mutations of the real scanner files, run through
``theranostics inspect`` and ``theranostics suv`` in-process.

Every case must end without a traceback; a value outside physical possibility must give a
clean error (exit 2 or the series row's ``error``), and a possible but unusual value at least
a problem the user sees. The plausibility rules are in docs/ingest.md ("Plausibility").
Run ``python Testing/core/test_ingest_fuzz.py`` for the counts.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pydicom.config
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import REAL_DATA

from theranostics.cli.main import main

NM_DIR = REAL_DATA / "siemens-maa-spect-ct" / "NM"
CT_DIR = REAL_DATA / "siemens-maa-spect-ct" / "CT"
RT_DIR = REAL_DATA / "siemens-maa-spect-ct" / "RTSTRUCT"
PET_FILE = REAL_DATA / "pet-flt-slices" / "slice1.dcm"

#: Expectations: "error" = refused cleanly; "flag" = refused or a problem shown; "any" = only
#: no traceback.
ERROR, FLAG, ANY = "error", "flag", "any"


@dataclass(frozen=True)
class Case:
    """One mutation: which source, what it does, what must happen."""

    name: str
    source: str  # "nm", "ct", "pet", "rt"
    mutate: Callable[[Dataset], None] | None
    expect: str
    damage: Callable[[bytes], bytes] | None = None  # applied to the written file's bytes


def _set(keyword: str, value):
    def f(ds: Dataset) -> None:
        setattr(ds, keyword, value)

    return f


def _delete(keyword: str):
    def f(ds: Dataset) -> None:
        if keyword in ds:
            delattr(ds, keyword)

    return f


def _radio(keyword: str, value):
    def f(ds: Dataset) -> None:
        item = ds.RadiopharmaceuticalInformationSequence[0]
        if value is None:
            if keyword in item:
                delattr(item, keyword)
        else:
            setattr(item, keyword, value)

    return f


def _code(value: str | None = None, meaning: str | None = None):
    def f(ds: Dataset) -> None:
        code = ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence[0]
        if value is not None:
            code.CodeValue = value
        if meaning is not None:
            code.CodeMeaning = meaning

    return f


def _rotation(keyword: str, value):
    def f(ds: Dataset) -> None:
        setattr(ds.RotationInformationSequence[0], keyword, value)

    return f


def _window(lower: float, upper: float):
    def f(ds: Dataset) -> None:
        rng = ds.EnergyWindowInformationSequence[0].EnergyWindowRangeSequence[0]
        rng.EnergyWindowLowerLimit, rng.EnergyWindowUpperLimit = lower, upper

    return f


def _nm_admin(stamp: str):
    """NM files of the real study hold no administration time: add one."""
    return _radio("RadiopharmaceuticalStartDateTime", stamp)


def _both(*fs):
    def f(ds: Dataset) -> None:
        for g in fs:
            g(ds)

    return f


def _garbage(keyword: str, text: str, vr: str = "DS"):
    """Store undecodable bytes in a tag, as a damaged file holds them."""

    def f(ds: Dataset) -> None:
        from pydicom.dataelem import RawDataElement
        from pydicom.tag import Tag

        data = text.encode("latin-1")
        data += b" " * (len(data) % 2)
        tag = Tag(keyword)
        ds[tag] = RawDataElement(tag, vr, len(data), data, 0, False, True)

    return f


def _zero_header(data: bytes) -> bytes:
    """The first 4 kB (preamble, file meta, start of the data set) overwritten with zeros."""
    return b"\0" * 4096 + data[4096:]


def _empty_pixels(ds: Dataset) -> None:
    ds.PixelData = b""


def _single_spacing(ds: Dataset) -> None:
    ds.PixelSpacing = [float(ds.PixelSpacing[0])]


def _contour(keyword: str, value, roi: int = 0, index: int = 0):
    def f(ds: Dataset) -> None:
        setattr(ds.ROIContourSequence[roi].ContourSequence[index], keyword, value)

    return f


def _roi_frame(value: str):
    def f(ds: Dataset) -> None:
        ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID = value

    return f


def _set_frame(value: str):
    def f(ds: Dataset) -> None:
        ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = value

    return f


def _duplicate_roi_number(ds: Dataset) -> None:
    ds.StructureSetROISequence[1].ROINumber = ds.StructureSetROISequence[0].ROINumber


NM_SCAN = "20201222142440"  # the NM acquisition start of the real study


def _base_cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # --- NM multi-frame reconstruction -------------------------------------------------
    add(Case("nm empty PixelData", "nm", _empty_pixels, ERROR))
    add(Case("nm PixelSpacing one value", "nm", _single_spacing, ERROR))
    for kw in ("NumberOfFrames", "PixelSpacing", "SpacingBetweenSlices"):
        add(Case(f"nm {kw} deleted", "nm", _delete(kw), FLAG))
    add(Case("nm Rows deleted", "nm", _delete("Rows"), ERROR))
    add(Case("nm Columns deleted", "nm", _delete("Columns"), ERROR))
    for v in (0, -4.8, 1e6, 1e-9):
        add(Case(f"nm PixelSpacing {v}", "nm", _set("PixelSpacing", [v, v]), ERROR))
        add(Case(f"nm SpacingBetweenSlices {v}", "nm", _set("SpacingBetweenSlices", v), ERROR))
    add(Case("nm PixelSpacing 30 mm", "nm", _set("PixelSpacing", [30.0, 30.0]), FLAG))
    for v in (64, 256, 1):
        add(Case(f"nm Rows {v}", "nm", _set("Rows", v), ERROR))
        add(Case(f"nm Columns {v}", "nm", _set("Columns", v), ERROR))
    for v in (40, 160, 0):
        add(Case(f"nm NumberOfFrames {v}", "nm", _set("NumberOfFrames", v), ERROR))
    for v in (0, -30001, 4 * 365 * 86400 * 1000):
        add(Case(f"nm frame duration {v} ms", "nm", _rotation("ActualFrameDuration", v), ERROR))
    add(Case("nm frame duration 2 h", "nm", _rotation("ActualFrameDuration", 7200_000), ERROR))
    add(Case("nm frame duration 100 s", "nm", _rotation("ActualFrameDuration", 100_000), FLAG))
    add(Case("nm frames in rotation 0", "nm", _rotation("NumberOfFramesInRotation", 0), ERROR))
    for v in (0, -142.45, 1e30, 1e-30, 2e11, 0.05):
        add(Case(f"nm activity {v}", "nm", _radio("RadionuclideTotalDose", v), ERROR))
    add(Case("nm activity 2e5 (0.2 MBq)", "nm", _radio("RadionuclideTotalDose", 2e5), FLAG))
    add(Case("nm activity 5 GBq MAA", "nm", _radio("RadionuclideTotalDose", 5000.0), ANY))
    for v in (-21624.12, 0, 1e30):
        add(Case(f"nm half-life {v}", "nm", _radio("RadionuclideHalfLife", v), ERROR))
    add(Case("nm half-life in minutes", "nm", _radio("RadionuclideHalfLife", 360.4), ERROR))
    add(Case("nm half-life of F-18", "nm", _radio("RadionuclideHalfLife", 6586.2), ERROR))
    add(Case("nm half-life right", "nm", _radio("RadionuclideHalfLife", 21624.12), ANY))
    add(Case("nm code Lu-177 meaning on Tc code", "nm", _code(meaning="^177^Lutetium"), ERROR))
    add(Case("nm code value F-18, meaning Tc", "nm", _code(value="C-111A1"), ERROR))
    add(Case("nm unknown code meaning", "nm", _code(value="XYZ", meaning="Unobtainium"), FLAG))
    add(Case("nm window lower > upper", "nm", _window(150.3, 129.3), ERROR))
    add(Case("nm window off Tc-99m photopeak", "nm", _window(300.0, 360.0), FLAG))
    add(Case("nm window negative", "nm", _window(-10.0, 150.0), ERROR))
    add(Case("nm Modality XX", "nm", _set("Modality", "XX"), FLAG))
    add(Case("nm Modality CT", "nm", _set("Modality", "CT"), FLAG))
    for v in (0.07, 0.0, -70.0, 74600.0, 1e30):
        add(Case(f"nm weight {v}", "nm", _set("PatientWeight", v), FLAG))
    for v in (0.01, 17.02, 1702.0, -1.7):
        add(Case(f"nm height {v}", "nm", _set("PatientSize", v), FLAG))
    add(Case("nm admin a year before", "nm", _nm_admin("20191222142440"), ERROR))
    add(Case("nm admin after the scan", "nm", _nm_admin("20201222152440"), ERROR))
    add(Case("nm admin at the scan instant", "nm", _nm_admin(NM_SCAN), FLAG))
    add(Case("nm admin 1 h before", "nm", _nm_admin("20201222132440"), ANY))
    add(Case("nm admin 30 days before", "nm", _nm_admin("20201122142440"), ERROR))
    add(Case("nm acquisition date 1850", "nm", _set("AcquisitionDate", "18500101"), ANY))
    add(Case("nm bad date", "nm", _set("AcquisitionDate", "20201340"), ERROR))
    add(Case("nm bad time", "nm", _set("AcquisitionTime", "256161"), ERROR))
    add(Case("nm RescaleSlope 0", "nm", _set("RescaleSlope", 0.0), ERROR))
    add(Case("nm RescaleSlope -1", "nm", _set("RescaleSlope", -1.0), ERROR))
    add(Case("nm RescaleIntercept 1e30", "nm", _set("RescaleIntercept", 1e30), ERROR))
    add(Case("nm Units BQML", "nm", _set("Units", "BQML"), ANY))
    add(Case("nm Units XYZ", "nm", _set("Units", "XYZ"), ERROR))
    add(Case("nm DecayFactor 0", "nm", _set("DecayFactor", 0.0), ERROR))
    add(Case("nm DecayFactor -1", "nm", _set("DecayFactor", -1.0), ERROR))
    add(
        Case(
            "nm ImageType projection",
            "nm",
            _set("ImageType", ["ORIGINAL", "PRIMARY", "TOMO"]),
            ERROR,
        )
    )
    add(Case("nm no detector geometry", "nm", _delete("DetectorInformationSequence"), ERROR))
    add(
        Case(
            "nm empty radiopharm sequence",
            "nm",
            _set("RadiopharmaceuticalInformationSequence", Sequence()),
            FLAG,
        )
    )
    add(Case("nm FrameOfReference deleted", "nm", _delete("FrameOfReferenceUID"), FLAG))
    # --- RTSTRUCT (next to the NM it was drawn for) ----------------------------------------
    add(Case("rt contour point 1e30", "rt", _contour("ContourData", [1e30, 0.0, 0.0] * 4), FLAG))
    add(Case("rt contour of one point", "rt", _contour("ContourData", [1.0, 2.0, 3.0]), FLAG))
    add(Case("rt unknown geometric type", "rt", _contour("ContourGeometricType", "BLOB"), FLAG))
    add(Case("rt open contour", "rt", _contour("ContourGeometricType", "OPEN_PLANAR"), FLAG))
    add(
        Case(
            "rt no ReferencedFrameOfReferenceSequence",
            "rt",
            _delete("ReferencedFrameOfReferenceSequence"),
            FLAG,
        )
    )
    add(Case("rt foreign frame of reference", "rt", _set_frame("1.2.3.4.5.6"), FLAG))
    add(Case("rt ROI in a foreign frame", "rt", _roi_frame("1.2.3.4.5.6.7"), FLAG))
    add(
        Case("rt contour data 4 values", "rt", _contour("ContourData", [1.0, 2.0, 3.0, 4.0]), ERROR)
    )
    add(Case("rt duplicate ROI number", "rt", _duplicate_roi_number, ERROR))
    add(Case("rt no StructureSetROISequence", "rt", _delete("StructureSetROISequence"), ERROR))
    add(Case("rt no ROIContourSequence", "rt", _delete("ROIContourSequence"), ERROR))
    # --- undecodable values (a damaged file) -------------------------------------------
    for source, keyword in (
        ("nm", "PixelSpacing"),
        ("nm", "SpacingBetweenSlices"),
        ("nm", "PatientWeight"),
        ("pet", "RescaleSlope"),
        ("pet", "PatientWeight"),
        ("pet", "DecayFactor"),
        ("ct", "RescaleIntercept"),
        ("ct", "PixelSpacing"),
        ("ct", "ImagePositionPatient"),
    ):
        for text in ("1.0\\:", "abc"):
            add(Case(f"{source} {keyword} {text!r}", source, _garbage(keyword, text), ERROR))
    add(Case("nm NumberOfFrames garbage IS", "nm", _garbage("NumberOfFrames", "8x", "IS"), ERROR))
    # --- damaged files (an interrupted copy) ----------------------------------------------
    for source in ("nm", "ct", "pet"):
        for fraction in (0.0, 0.001, 0.05, 0.5, 0.999):
            add(
                Case(
                    f"{source} truncated to {fraction:.1%}",
                    source,
                    None,
                    FLAG,  # refused, or the damaged file listed as skipped
                    damage=lambda data, f=fraction: data[: int(len(data) * f)],
                )
            )
        add(Case(f"{source} zero-filled header", source, None, FLAG, damage=_zero_header))
    # --- CT slice (the middle one of three) --------------------------------------------
    add(Case("ct empty PixelData", "ct", _empty_pixels, ERROR))
    add(Case("ct RescaleIntercept 1e30", "ct", _set("RescaleIntercept", 1e30), ERROR))
    add(Case("ct RescaleIntercept -1e6", "ct", _set("RescaleIntercept", -1e6), ERROR))
    add(Case("ct RescaleSlope 0", "ct", _set("RescaleSlope", 0.0), ERROR))
    add(Case("ct RescaleSlope -1", "ct", _set("RescaleSlope", -1.0), ERROR))
    add(Case("ct RescaleSlope 1e30", "ct", _set("RescaleSlope", 1e30), ERROR))
    add(Case("ct PixelSpacing one value", "ct", _single_spacing, ERROR))
    for v in (0, -1, 1e6):
        add(Case(f"ct PixelSpacing {v}", "ct", _set("PixelSpacing", [v, v]), ERROR))
    add(Case("ct Rows 256", "ct", _set("Rows", 256), ERROR))
    add(Case("ct Rows deleted", "ct", _delete("Rows"), ERROR))
    add(Case("ct Columns deleted", "ct", _delete("Columns"), ERROR))
    add(Case("ct other FrameOfReference", "ct", _set("FrameOfReferenceUID", "1.2.3.4.5"), ERROR))
    add(Case("ct position deleted", "ct", _delete("ImagePositionPatient"), ERROR))
    add(Case("ct position 1e30", "ct", _set("ImagePositionPatient", [1e30, 0, 0]), ERROR))
    add(Case("ct orientation zero", "ct", _set("ImageOrientationPatient", [0] * 6), ERROR))
    add(Case("ct Modality XX", "ct", _set("Modality", "XX"), FLAG))
    add(Case("ct BitsAllocated 8", "ct", _set("BitsAllocated", 8), ERROR))
    # --- PET slice (alone) -------------------------------------------------------------
    add(Case("pet empty PixelData", "pet", _empty_pixels, ERROR))
    add(
        Case(
            "pet injection a year before",
            "pet",
            _both(
                _radio("RadiopharmaceuticalStartDateTime", "19590614141700"),
                _radio("RadiopharmaceuticalStartTime", None),
            ),
            ERROR,
        )
    )
    add(
        Case(
            "pet injection at the scan",
            "pet",
            _radio("RadiopharmaceuticalStartTime", "152316.921"),
            FLAG,
        )
    )
    add(
        Case(
            "pet injection after the scan",
            "pet",
            _radio("RadiopharmaceuticalStartTime", "162316"),
            ERROR,
        )
    )
    add(
        Case(
            "pet injection 12 h before",
            "pet",
            _radio("RadiopharmaceuticalStartTime", "032316"),
            FLAG,
        )
    )
    for v in (-6586.2, 0, 1e30):
        add(Case(f"pet half-life {v}", "pet", _radio("RadionuclideHalfLife", v), ERROR))
    add(Case("pet half-life in minutes", "pet", _radio("RadionuclideHalfLife", 109.77), ERROR))
    add(Case("pet half-life of Ga-68", "pet", _radio("RadionuclideHalfLife", 4062.6), ERROR))
    for v in (0, -1, 1e30, 1e-30):
        add(Case(f"pet activity {v}", "pet", _radio("RadionuclideTotalDose", v), ERROR))
    for v in (0, -300000, 4 * 365 * 86400 * 1000):
        add(Case(f"pet frame duration {v}", "pet", _set("ActualFrameDuration", v), ERROR))
    for v in (0.0, -1.0, 1000.0):
        add(Case(f"pet DecayFactor {v}", "pet", _set("DecayFactor", v), ERROR if v <= 0 else FLAG))
    add(Case("pet DecayFactor 0.5", "pet", _set("DecayFactor", 0.5), FLAG))
    for v in (0.07, 0.0, 69734.4, 1e30, 700.0):
        add(Case(f"pet weight {v}", "pet", _set("PatientWeight", v), FLAG))
    for v in (0, -1, 1e6):
        add(Case(f"pet PixelSpacing {v}", "pet", _set("PixelSpacing", [v, v]), ERROR))
        add(Case(f"pet SliceThickness {v}", "pet", _set("SliceThickness", v), ERROR))
    add(Case("pet RescaleSlope 0", "pet", _set("RescaleSlope", 0.0), ERROR))
    add(Case("pet RescaleSlope -9", "pet", _set("RescaleSlope", -9.12329), ERROR))
    add(Case("pet RescaleIntercept 1e30", "pet", _set("RescaleIntercept", 1e30), ERROR))
    add(Case("pet Units XYZ", "pet", _set("Units", "XYZ"), ERROR))
    add(Case("pet DecayCorrection XYZ", "pet", _set("DecayCorrection", "XYZ"), ERROR))
    add(Case("pet Modality XX", "pet", _set("Modality", "XX"), FLAG))
    add(
        Case(
            "pet nuclide Tc-99m code", "pet", _code(value="C-163A8", meaning="99m Technetium"), FLAG
        )
    )
    add(Case("pet Lu-177 meaning on F-18 code", "pet", _code(meaning="^177^Lutetium"), ERROR))
    add(Case("pet series time garbage", "pet", _set("SeriesTime", "99"), ERROR))
    add(Case("pet Rows deleted", "pet", _delete("Rows"), ERROR))
    add(Case("pet Rows 64", "pet", _set("Rows", 64), ERROR))
    return cases


#: Values for the seeded random part: (keyword path, values) per source.
_RANDOM_POOL = {
    "nm": [
        ("PixelSpacing", lambda r: [r, r], [0.0, -1.0, 1e6, 1e-9]),
        ("SpacingBetweenSlices", None, [0.0, -4.0, 1e6]),
        ("RescaleSlope", None, [0.0, -2.0]),
        ("DecayFactor", None, [0.0, -1.0]),
        ("radio:RadionuclideTotalDose", None, [0.0, -1.0, 1e30, 1e-30]),
        ("radio:RadionuclideHalfLife", None, [-1.0, 0.0, 1e30, 360.4]),
        ("rot:ActualFrameDuration", None, [0, -1, 10**14]),
        ("Rows", None, [1, 64, 500]),
        ("Columns", None, [1, 64, 500]),
        ("NumberOfFrames", None, [0, 1, 79, 81]),
    ],
    "pet": [
        ("PixelSpacing", lambda r: [r, r], [0.0, -1.0, 1e6]),
        ("SliceThickness", None, [0.0, -5.0, 1e6]),
        ("RescaleSlope", None, [0.0, -9.0]),
        ("RescaleIntercept", None, [1e30, -1e30]),
        ("DecayFactor", None, [0.0, -1.0]),
        ("radio:RadionuclideTotalDose", None, [0.0, -1.0, 1e30, 1e-30]),
        ("radio:RadionuclideHalfLife", None, [-1.0, 0.0, 1e30, 109.77]),
        ("ActualFrameDuration", None, [0, -1, 10**14]),
        ("Rows", None, [1, 64, 500]),
    ],
    "ct": [
        ("PixelSpacing", lambda r: [r, r], [0.0, -1.0, 1e6]),
        ("RescaleSlope", None, [0.0, -1.0, 1e30]),
        ("RescaleIntercept", None, [1e30, -1e30, 1e7]),
        ("Rows", None, [1, 256, 1024]),
        ("Columns", None, [1, 256, 1024]),
    ],
}


def _pool_mutation(key: str, wrap, value):
    v = wrap(value) if wrap else value
    if key.startswith("radio:"):
        return _radio(key[6:], v)
    if key.startswith("rot:"):
        return _rotation(key[4:], v)
    return _set(key, v)


def random_cases(n: int, seed: int = 17) -> list[Case]:
    """``n`` cases, each one or two impossible values drawn from :data:`_RANDOM_POOL` with a
    fixed seed (impossible values only, so every case must be refused)."""
    rng = random.Random(seed)
    cases = []
    sources = sorted(_RANDOM_POOL)
    for k in range(n):
        source = sources[k % len(sources)]
        picks = rng.sample(_RANDOM_POOL[source], k=rng.choice((1, 2)))
        fs, names = [], []
        for key, wrap, values in picks:
            value = rng.choice(values)
            fs.append(_pool_mutation(key, wrap, value))
            names.append(f"{key}={value!r}")
        cases.append(Case(f"random {source} " + ", ".join(names), source, _both(*fs), ERROR))
    return cases


def all_cases(n_random: int = 200) -> list[Case]:
    """The whole corpus: the hand-written cases and ``n_random`` seeded random ones."""
    return _base_cases() + random_cases(n_random)


# --------------------------------------------------------------------------------------------
# Running


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


_SOURCES: dict[str, list[Path]] = {}


def _source_files(source: str) -> list[Path]:
    if source not in _SOURCES:
        if source == "nm":
            _SOURCES[source] = sorted(NM_DIR.glob("*.dcm"))
        elif source == "ct":
            _SOURCES[source] = sorted(CT_DIR.glob("*.dcm"))[10:13]
        elif source == "rt":  # the RTSTRUCT (mutated) and the NM
            _SOURCES[source] = sorted(NM_DIR.glob("*.dcm")) + sorted(RT_DIR.glob("*.dcm"))
        else:
            _SOURCES[source] = [PET_FILE]
    return _SOURCES[source]


def _write_case(case: Case | None, source: str, folder: Path) -> Path:
    files = _source_files(source)
    folder.mkdir(parents=True)
    target = len(files) - 1 if source == "rt" else len(files) // 2
    for index, path in enumerate(files):
        if case is not None and index == target:
            if case.mutate is not None:
                ds = pydicom.dcmread(path)
                # Writing deliberately invalid values: pydicom's own VR check would warn.
                with pydicom.config.disable_value_validation():
                    case.mutate(ds)
                    ds.save_as(folder / path.name, enforce_file_format=False)
            else:
                shutil.copyfile(path, folder / path.name)
            if case.damage is not None:
                out = folder / path.name
                out.write_bytes(case.damage(out.read_bytes()))
        else:
            shutil.copyfile(path, folder / path.name)
    return folder


@dataclass
class Outcome:
    """What one case gave: ``kind`` is "traceback", "error", "problem" or "silent"."""

    case: Case
    kind: str
    detail: str


def _image_rows(stdout: str) -> list[dict]:
    try:
        rows = json.loads(stdout)
    except json.JSONDecodeError:
        return []
    return [r for r in rows if r.get("kind") in ("CT", "NM", "PT", "RTSTRUCT")]


_BASELINE: dict[str, set[str]] = {}


def _problems_of(folder: Path) -> tuple[int, str, set[str], bool]:
    code, out, err = _run(["inspect", str(folder), "--json"])
    if code not in (0, 2) or "Traceback" in err:
        return code, err, set(), False
    rows = _image_rows(out)
    if code == 2:
        return code, err, set(), True
    errored = any(r.get("error") for r in rows) or not rows
    problems = {p for r in rows for p in r.get("problems", [])}
    # files the scan could not use are listed on stderr ("skipped PATH: why")
    problems |= {line for line in err.splitlines() if line.startswith("skipped ")}
    if not rows:
        problems.add("no image row")
    return code, err, problems, errored


def _baseline(source: str, tmp: Path) -> set[str]:
    if source not in _BASELINE:
        folder = _write_case(None, source, tmp / f"baseline-{source}")
        code, err, problems, errored = _problems_of(folder)
        assert code == 0 and not errored, f"baseline {source} does not load: {err}"
        _BASELINE[source] = problems
    return _BASELINE[source]


def run_case(case: Case, tmp: Path) -> Outcome:
    """Write the mutated file(s) under ``tmp`` and run inspect (and suv for PET)."""
    base = _baseline(case.source, tmp)
    folder = _write_case(case, case.source, tmp / f"case-{abs(hash(case.name))}")
    try:
        code, err, problems, errored = _problems_of(folder)
        if code not in (0, 2):
            return Outcome(case, "traceback", err.strip()[-300:])
        kind = "error" if errored else "problem" if problems - base else "silent"
        detail = err.strip() or "; ".join(sorted(problems - base))
        if case.source == "pet" and kind != "error":
            code, out, err = _run(["suv", str(folder), "--json"])
            if code not in (0, 2):
                return Outcome(case, "traceback", err.strip()[-300:])
            if code == 2:
                kind, detail = "error", err.strip()
            elif kind == "silent" and set(json.loads(out).get("problems", [])) - base:
                kind = "problem"
        return Outcome(case, kind, detail)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def satisfied(outcome: Outcome) -> bool:
    """True when the outcome meets the case's expectation."""
    if outcome.kind == "traceback":
        return False
    if outcome.case.expect == ERROR:
        return outcome.kind == "error"
    if outcome.case.expect == FLAG:
        return outcome.kind in ("error", "problem")
    return True


def run_corpus(cases: list[Case]) -> list[Outcome]:
    """All outcomes, in case order."""
    with tempfile.TemporaryDirectory() as tmp:
        return [run_case(c, Path(tmp)) for c in cases]


# --------------------------------------------------------------------------------------------
# Tests

needs_real = pytest.mark.skipif(
    not (NM_DIR.is_dir() and CT_DIR.is_dir() and PET_FILE.is_file()),
    reason=f"real scanner data not found at {REAL_DATA}",
)


@needs_real
def test_corpus_is_deterministic_and_a_few_hundred_cases():
    a, b = all_cases(), all_cases()
    assert [c.name for c in a] == [c.name for c in b]
    assert len(a) >= 300
    assert len({c.name for c in a}) > 250


#: The tracebacks and silent acceptances of issue 17, each with what the message must name.
LISTED = {
    "nm empty PixelData": "PixelData (7FE0,0010)",
    "ct empty PixelData": "PixelData (7FE0,0010)",
    "pet empty PixelData": "PixelData (7FE0,0010)",
    "nm PixelSpacing one value": "PixelSpacing (0028,0030)",
    "nm Rows deleted": "Rows (0028,0010)",
    "nm Columns deleted": "Columns (0028,0011)",
    "ct RescaleIntercept 1e30": "RescaleIntercept (0028,1052)",
    "pet injection a year before": "half-lives",
    "pet half-life -6586.2": "RadionuclideHalfLife (0018,1075)",
    "pet half-life in minutes": "in minutes",
    "nm half-life in minutes": "in minutes",
    "pet weight 0.07": "PatientWeight (0010,1030)",
    "nm code Lu-177 meaning on Tc code": "CodeValue vs CodeMeaning",
    "nm window lower > upper": "lower limit",
    "ct other FrameOfReference": "FrameOfReferenceUID (0020,0052)",
    "nm frame duration 0 ms": "acquisition duration (s) 0 is impossible",
    "nm admin a year before": "half-lives",
    "pet DecayFactor 0.0": "DecayFactor (0054,1321)",
    "nm RescaleSlope 0": "RescaleSlope (0028,1053)",
    "pet activity 1e+30": "RadionuclideTotalDose (0018,1074)",
    "nm PixelSpacing 1000000.0": "voxel spacing (mm) 1e+06 is impossible",
}


@needs_real
@pytest.mark.parametrize("name", sorted(LISTED))
def test_listed_cases_are_clean_errors_naming_the_tag(name, tmp_path, monkeypatch):
    monkeypatch.setenv("THERANOSTICS_LOG_DIR", str(tmp_path / "logs"))
    case = next(c for c in _base_cases() if c.name == name)
    outcome = run_case(case, tmp_path)
    assert outcome.kind == "error", f"{name}: {outcome.kind} {outcome.detail}"
    assert LISTED[name] in outcome.detail, outcome.detail
    assert "Traceback" not in outcome.detail
    if "PatientWeight" not in LISTED[name]:
        assert "Fix:" in outcome.detail


@needs_real
def test_mutation_corpus_no_traceback_no_silent_impossible(tmp_path, monkeypatch):
    monkeypatch.setenv("THERANOSTICS_LOG_DIR", str(tmp_path / "logs"))
    outcomes = [run_case(c, tmp_path) for c in all_cases()]
    failures = [o for o in outcomes if not satisfied(o)]
    report = "\n".join(
        f"{o.kind:9s} {o.case.expect:5s} {o.case.name}: {o.detail}" for o in failures
    )
    assert not failures, f"{len(failures)} of {len(outcomes)} cases failed:\n{report}"


if __name__ == "__main__":  # counts for the closing note
    results = run_corpus(all_cases())
    counts: dict[str, int] = {}
    for o in results:
        counts[o.kind] = counts.get(o.kind, 0) + 1
    bad = [o for o in results if not satisfied(o)]
    for o in bad:
        print(f"FAIL {o.kind:9s} expect {o.case.expect:5s} {o.case.name}: {o.detail[:250]}")
    print(json.dumps({"cases": len(results), **counts, "unsatisfied": len(bad)}))
