"""Shared pytest fixtures: paths to the real scanner data, the cached synthetic studies and a
real MRML scene.

The MRML scene comes from the PyPI package ``slicer-core`` (Slicer's MRML and module logics
compiled without Qt). Nothing in this test suite fakes the ``slicer`` module.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _real_data_root() -> Path:
    """$THERANOSTICS_REAL_DATA, else ``../shared/data/real`` next to the checkout, else the
    workplace's ``/work/shared/data/real`` (a clean clone elsewhere still finds it)."""
    if "THERANOSTICS_REAL_DATA" in os.environ:
        return Path(os.environ["THERANOSTICS_REAL_DATA"])
    for candidate in (
        REPO_ROOT.parent / "shared" / "data" / "real",
        Path("/work/shared/data/real"),
    ):
        if candidate.exists():
            return candidate
    return REPO_ROOT.parent / "shared" / "data" / "real"


#: Real anonymised scanner data shared between projects (never copied into the repository).
REAL_DATA = _real_data_root()
SIEMENS_MAA = REAL_DATA / "siemens-maa-spect-ct"
FLT_PET = REAL_DATA / "pet-flt-slices"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real scanner data not found at {path} (set THERANOSTICS_REAL_DATA)")
    return path


@pytest.fixture(scope="session")
def siemens_maa_dir() -> Path:
    """The Siemens Symbia T6 99mTc-MAA SPECT/CT study (NM/, CT/, RTSTRUCT/)."""
    return _require(SIEMENS_MAA)


@pytest.fixture(scope="session")
def flt_pet_dir() -> Path:
    """Two 18F-FLT PET slices (BQML, DecayCorrection START)."""
    return _require(FLT_PET)


def _cached_study(config) -> Path:
    """A generated synthetic study, cached in ``$THERANOSTICS_TEST_CACHE`` (default
    ``.cache/phantom`` in the checkout, the folder ``make demo`` uses) and reused by every
    test session. Tests must treat it as read-only."""
    from theranostics.demo import cache_key
    from theranostics.phantom.generate import generate_study

    root = Path(os.environ.get("THERANOSTICS_TEST_CACHE", REPO_ROOT / ".cache" / "phantom"))
    folder = root / cache_key(config)
    if not (folder / "truth" / "ground_truth.json").is_file():
        generate_study(folder, config, overwrite=True)  # atomic: built aside, then moved
    return folder


@pytest.fixture(scope="session")
def synthetic_study_small() -> Path:
    """The default PSMA study (seed 1) on the ``small`` grid (SPECT 9.6 mm): fast tests."""
    from theranostics.phantom.generate import PhantomConfig

    return _cached_study(PhantomConfig(size="small"))


@pytest.fixture(scope="session")
def small_study_loaded(synthetic_study_small):
    """The small study loaded once per session (``load_spect_study``, 10 cps/MBq), shared by
    the registration and study tests. Read-only: a test that changes an image must copy it."""
    from theranostics.study import load_spect_study

    return load_spect_study(synthetic_study_small / "dicom", calibration_cps_per_MBq=10.0)


@pytest.fixture(scope="session")
def small_dosimetry_runs(synthetic_study_small, tmp_path_factory):
    """Two ``run_dosimetry`` runs of the small study from its files with the defaults (voxel
    S-value kernel, 10 cps/MBq, no report), one ITK thread (multi-threaded registration
    reproduces its transform only to ~1e-7 mm, which changes the last bits of every map):
    ``(out_a, out_b, result_a)``. Shared by the determinism, verification and in-memory
    tests. Read-only."""
    pytest.importorskip("theranostics.study")
    import SimpleITK as sitk

    from theranostics.workflows.dosimetry import run_dosimetry

    tmp = tmp_path_factory.mktemp("small-dosimetry")
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        results = [
            run_dosimetry(
                synthetic_study_small,
                synthetic_study_small / "truth" / "labels.nrrd",
                out_dir=tmp / name,
                calibration_cps_per_MBq=10.0,
                write_report=False,
            )
            for name in ("a", "b")
        ]
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    return tmp / "a", tmp / "b", results[0]


@pytest.fixture(scope="session")
def synthetic_study() -> Path:
    """The default PSMA study (seed 1) at default noise and resolution (SPECT 4.8 mm): the
    study ``make demo`` runs; accuracy claims are made on it."""
    from theranostics.phantom.generate import PhantomConfig

    return _cached_study(PhantomConfig())


@pytest.fixture(scope="session")
def standard_study_loaded(synthetic_study):
    """The standard study loaded once per session (``load_spect_study``, 10 cps/MBq), shared by
    the registration acceptance and TAC workflow tests. Read-only, like small_study_loaded."""
    from theranostics.study import load_spect_study

    return load_spect_study(synthetic_study / "dicom", calibration_cps_per_MBq=10.0)


@pytest.fixture(scope="session")
def sirt_patient_1():
    """Real 90Y SIRT patient 1 (Slicer NRRD PET read as Bq/mL Y-90, its .seg.nrrd) and its
    ``sirt_dosimetry`` (decay-corrected to implantation), computed once per session: the core
    test checks the numbers, the MRML test compares the node workflow with them. Read-only:
    ``(pet, seg_path, result)``."""
    from sirt_nrrd import PET_1, SEG_1, sirt_nrrd_dir

    from theranostics.io.slicer_files import read_volume
    from theranostics.workflows.sirt_dosimetry import sirt_dosimetry

    folder = sirt_nrrd_dir()
    pet = read_volume(folder / PET_1, overrides={"units": "Bq/mL", "nuclide": "Y-90"})
    return (
        pet,
        folder / SEG_1,
        sirt_dosimetry(pet, folder / SEG_1, decay_corrected_to_implantation=True),
    )


class MRMLContext:
    """A real ``vtkMRMLScene`` with the application and module logics Slicer sets up."""

    def __init__(self) -> None:
        import slicer  # slicer-core

        self._tmp = tempfile.TemporaryDirectory(prefix="theranostics-mrml-")
        tmp = Path(self._tmp.name)
        for sub in ("home", "share", "temp"):
            (tmp / sub).mkdir()
        self.scene = slicer.vtkMRMLScene()
        self.app_logic = slicer.vtkSlicerApplicationLogic()
        # Colour logic looks for colour files under the home/share folders; without an app
        # these are empty folders, and the built-in colour tables are still created.
        self.app_logic.SetHomeDirectory(str(tmp / "home"))
        self.app_logic.SetShareDirectory(str(tmp / "share"))
        self.app_logic.SetTemporaryPath(str(tmp / "temp"))
        self.app_logic.SetMRMLScene(self.scene)
        self.logics = {}
        for name, cls in (
            ("Colors", slicer.vtkSlicerColorLogic),
            ("Volumes", slicer.vtkSlicerVolumesLogic),
            ("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
        ):
            logic = cls()
            logic.SetMRMLApplicationLogic(self.app_logic)
            logic.SetMRMLScene(self.scene)
            self.app_logic.SetModuleLogic(name, logic)
            self.logics[name] = logic

    def close(self) -> None:
        for logic in self.logics.values():
            logic.SetMRMLScene(None)
        self.app_logic.SetMRMLScene(None)
        self.scene.Clear(True)
        self._tmp.cleanup()


@pytest.fixture
def mrml():
    """A fresh real MRML scene with colour, volumes and segmentations logics."""
    pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")
    ctx = MRMLContext()
    yield ctx
    ctx.close()


@pytest.fixture
def mrml_scene(mrml):
    """Just the ``vtkMRMLScene`` of :func:`mrml`."""
    return mrml.scene
