"""Slicer-conformance checks that need no Slicer (issue 14): the rules a reading of
Slicer's source gives, checked on our files. The Slicer facts are in
``slicer_reference.py`` (bundled packages, version floor) and ``slicer_api_checked.py``
(every API name the Widgets use and the Slicer file it was checked against).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from slicer_api_checked import CHECKED, CTK_COMMIT
from slicer_reference import (
    BUILT_IN_MODULES,
    BUNDLED_PACKAGES,
    SLICER_TAG,
    SLICER_VERSION_FLOOR,
    TEMPLATE_CMAKE_MINIMUM,
    normalise,
)
from test_module_files import cmake_listed_files
from widget_api import WIDGET_FILES, all_used_names, keyword_uses

REPO = Path(__file__).resolve().parents[2]
MODULES = ("TheranosticPlanning", "DoseMapping")
MIRRORS = REPO.parent / ".mirror"
if not MIRRORS.exists():
    MIRRORS = Path("/work/.mirror")


def _tree(path: str) -> ast.Module:
    return ast.parse((REPO / path).read_text(encoding="utf-8"))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """Calls whose function is ``name`` or ``<anything>.name``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                found.append(node)
    return found


# --- module scripts --------------------------------------------------------------------------
@pytest.mark.parametrize("module", MODULES)
def test_every_top_level_module_script_defines_its_class(module):
    """Slicer loads every top-level script of a scripted-modules folder as a module and needs
    a class named after the file (Base/QTGUI/qSlicerScriptedLoadableModule.cxx,
    setPythonSource: "class %1 was not found in file %2"). A script that is not a panel
    (the DICOM plugin) must be a hidden module, as DICOMScalarVolumePlugin.py is."""
    listed, _ = cmake_listed_files(module)
    scripts = [f for f in listed if f.endswith(".py") and "/" not in f]
    assert f"{module}.py" in scripts
    for script in scripts:
        name = Path(script).stem
        tree = _tree(f"{module}/{script}")
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        assert name in classes, f"{module}/{script} defines no class {name}"
        if name != module:
            source = ast.unparse(classes[name])
            assert "parent.hidden = True" in source, f"{name} is not a hidden module"


# --- dependencies ----------------------------------------------------------------------------
def _core_dependencies() -> list[Requirement]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(d) for d in data["project"]["dependencies"]]


def _requirements_file(module: str) -> Path:
    return REPO / module / "Resources" / f"{module}-requirements.txt"


def _requirements(module: str) -> dict[str, Requirement]:
    """Parsed as slicer.packaging.load_requirements does (comments, blanks, options out)."""
    found = {}
    for line in _requirements_file(module).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith("-"):
            req = Requirement(line)
            found[normalise(req.name)] = req
    return found


@pytest.mark.parametrize("module", MODULES)
def test_requirements_list_every_core_dependency_slicer_does_not_bundle(module):
    listed = _requirements(module)
    missing = [
        str(dep)
        for dep in _core_dependencies()
        if normalise(dep.name) not in BUNDLED_PACKAGES
        and dep.name not in BUILT_IN_MODULES
        and normalise(dep.name) not in listed
    ]
    assert missing == [], (
        f"{module}: core dependencies Slicer {SLICER_TAG} does not bundle are missing from "
        f"{_requirements_file(module).name}: {missing}"
    )
    for name in ("icrp107-database", "radioactivedecay"):
        assert name in listed, f"{module}: {name} is not bundled by Slicer and must be listed"


@pytest.mark.parametrize("module", MODULES)
def test_the_bundled_packages_satisfy_our_minimum_versions(module):
    """So that pip_ensure installs nothing over what Slicer ships."""
    for name, req in _requirements(module).items():
        if name in BUNDLED_PACKAGES:
            version, source = BUNDLED_PACKAGES[name]
            assert req.specifier.contains(version, prereleases=True), (
                f"{module}: {req} excludes the {name} {version} Slicer {SLICER_TAG} bundles "
                f"({source})"
            )


def test_a_missing_radioactivedecay_is_an_error_not_an_empty_chain(monkeypatch):
    """Issue 14: chains.py returned no daughters without the package (225Ac dose silently
    without its progeny)."""
    from theranostics.nuclide_data import chains

    chains.progeny_decays_per_parent_decay.cache_clear()
    monkeypatch.setitem(sys.modules, "radioactivedecay", None)  # import raises ImportError
    try:
        with pytest.raises(ModuleNotFoundError, match="pip install radioactivedecay"):
            chains.progeny_decays_per_parent_decay("Ac-225", 864000.0)
    finally:
        chains.progeny_decays_per_parent_decay.cache_clear()


# --- CMake ------------------------------------------------------------------------------------
def test_installed_files_have_distinct_destinations():
    """Both modules install into one qt-scripted-modules folder: ctkMacroCompilePythonScript
    copies each file to DESTINATION_DIR/<its relative path> (one custom command per output,
    CTK CMake/ctkMacroCompilePythonScript.cmake), so two modules listing the same relative
    path make two rules for one file ("multiple rules generate" with Ninja)."""
    seen: dict[str, str] = {}
    for module in MODULES:
        listed, _ = cmake_listed_files(module)
        for path in listed:
            assert path not in seen, f"{path} is installed by both {seen[path]} and {module}"
            seen[path] = module
    assert not [p for p in seen if p.startswith("theranostics/")]  # the core's own folder


@pytest.mark.parametrize("module", MODULES)
def test_the_install_button_reads_the_file_cmake_installs(module):
    listed, _ = cmake_listed_files(module)
    name = f"{module}-requirements.txt"
    assert f"Resources/{name}" in listed
    assert _requirements_file(module).is_file()
    assert f'"{name}"' in (REPO / module / f"{module}.py").read_text(encoding="utf-8")


def test_slicer_version_floor_and_cmake_minimum():
    """find_package(Slicer X) accepts any Slicer not older than X
    (CMake/SlicerConfigVersion.cmake.in); the code needs slicer.packaging (5.12)."""
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    found = re.search(r"find_package\(\s*Slicer\s+([0-9.]+)\s+REQUIRED\s*\)", code)
    assert found, "find_package(Slicer <version> REQUIRED) with a version floor"
    floor = tuple(int(x) for x in found.group(1).split("."))
    assert floor >= tuple(int(x) for x in SLICER_VERSION_FLOOR.split("."))
    assert f"cmake_minimum_required(VERSION {TEMPLATE_CMAKE_MINIMUM} FATAL_ERROR)" in code


# --- Widget calls -----------------------------------------------------------------------------
def test_pip_ensure_is_called_with_load_requirements():
    """pip_ensure takes requirement objects or specs (Base/Python/slicer/packaging.py); a path
    string would be parsed as one requirement spec. It asks the user itself, so the
    Widgets do not ask again."""
    calls = []
    for path in WIDGET_FILES:
        tree = _tree(path)
        calls += [(path, c) for c in _calls(tree, "pip_ensure")]
        assert not _calls(tree, "pip_install"), f"{path}: use pip_ensure, not pip_install"
        assert not _calls(tree, "confirmOkCancelDisplay"), f"{path}: pip_ensure already asks"
    assert calls, "no pip_ensure call: the Install button installs nothing"
    for path, call in calls:
        assert call.args and isinstance(call.args[0], ast.Call), path
        inner = call.args[0].func
        assert getattr(inner, "attr", getattr(inner, "id", None)) == "load_requirements", path
        assert not any(k.arg == "requirements" for k in call.keywords), path
        assert "import slicer.packaging" in (REPO / path).read_text(encoding="utf-8")


def _literal(node):
    return ast.literal_eval(node) if node is not None else None


def test_sample_data_sources_have_the_argument_types_sample_data_expects():
    """SampleDataSource (Modules/Scripted/SampleData/SampleData.py) takes uris as a str or a
    list/tuple, and then calls len() on uris, fileNames, nodeNames, loadFiles,
    loadFileTypes and checksums, which must all have the same length (None for the last
    four becomes a list of that length; a bool loadFiles does not)."""
    calls = [c for p in WIDGET_FILES for c in _calls(_tree(p), "registerCustomSampleDataSource")]
    assert calls, "the sample data is not registered"
    for call in calls:
        kwargs = {k.arg: k.value for k in call.keywords}
        uris = _literal(kwargs.get("uris"))
        assert isinstance(uris, list | tuple | str), f"uris={uris!r}"
        length = 1 if isinstance(uris, str) else len(uris)
        file_names = _literal(kwargs.get("fileNames"))
        assert (1 if isinstance(file_names, str) else len(file_names)) == length
        for name in ("nodeNames", "loadFiles", "loadFileTypes", "checksums"):
            value = _literal(kwargs.get(name))
            assert value is None or (isinstance(value, list | tuple) and len(value) == length), (
                f"{name}={value!r}"
            )
        assert "customDownloader" in kwargs


def test_widgets_do_not_read_the_parameter_node_from_selector_signals():
    """PythonQt calls a signal's handlers in connection order; the parameter-node wrapper's
    connectors (parameterNodeWrapper/guiConnectors.py) connect later, so a handler connected
    in setup reads the previous selection. Follow the parameter node's ModifiedEvent."""
    for path in WIDGET_FILES:
        tree = _tree(path)
        methods = {n.name: ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        for call in _calls(tree, "connect"):
            if not (call.args and isinstance(call.args[0], ast.Constant)):
                continue
            if "currentNodeChanged" not in str(call.args[0].value) or len(call.args) < 2:
                continue
            handler = getattr(call.args[1], "attr", None)
            # the handler and every self.<method>() it calls, transitively
            reached, todo = set(), [handler]
            while todo:
                name = todo.pop()
                if name in reached or name not in methods:
                    continue
                reached.add(name)
                todo += re.findall(r"\bself\.(\w+)\(", methods[name])
            text = "".join(methods[name] for name in reached)
            assert "self._parameterNode" not in text, (
                f"{path}: {handler} reads the parameter node from a selector signal"
            )


def test_long_actions_report_cancel_as_cancel_and_unparent_their_dialog():
    """tryWithErrorDisplay (Base/Python/slicer/util.py) catches every Exception and shows
    "<message>\\n\\n<error>": Cancelled must be caught inside it. Progress dialogs are
    unparented when closed, as DICOMBrowser.py does."""
    source = (REPO / "TheranosticPlanning/TheranosticPlanning.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    long_action = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "longAction"
    )
    text = ast.unparse(long_action)
    assert text.index("tryWithErrorDisplay") < text.index("except Cancelled")
    dialog = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ProgressDialog"
    )
    exit_text = ast.unparse(next(f for f in dialog.body if getattr(f, "name", "") == "__exit__"))
    assert exit_text.index("setParent(None)") < exit_text.index("close()")
    for path in WIDGET_FILES:
        tree = _tree(path)
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            if func.name in ("longAction", "__init__"):
                continue
            assert not _calls(func, "ProgressDialog"), (
                f"{path}: {func.name} makes a ProgressDialog outside longAction"
            )


def test_the_dicom_plugin_adds_its_series_to_the_subject_hierarchy():
    """DICOMPlugin.addSeriesInSubjectHierarchy "should be called from the load() function of
    each subclass" (Modules/Scripted/DICOMLib/DICOMPlugin.py); and the metadata attachment for
    volumes other plugins load is called from the Logic, not left unused."""
    tree = _tree("TheranosticPlanning/DICOMQuantitativePlugin.py")
    plugin = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("PluginClass")
    )
    load = next(f for f in plugin.body if getattr(f, "name", "") == "load")
    assert _calls(load, "addSeriesInSubjectHierarchy")
    examine = next(f for f in plugin.body if getattr(f, "name", "") == "examineFiles")
    assert "slicer.dicomDatabase.fileValue" in ast.unparse(examine)
    assert _calls(
        _tree("TheranosticPlanning/TheranosticPlanning.py"), "attachMetadataToDicomVolume"
    )


# --- the recorded Slicer API ------------------------------------------------------------------
def test_every_slicer_api_name_the_widgets_use_is_recorded():
    used = all_used_names()
    unrecorded = {name: sorted(files) for name, files in used.items() if name not in CHECKED}
    assert unrecorded == {}, (
        "read these in Slicer's source and record them in Testing/static/slicer_api_checked.py"
    )
    stale = sorted(set(CHECKED) - set(used))
    assert stale == [], f"recorded but no longer used: {stale}"


def _show(repo: Path, ref: str, path: str) -> str | None:
    result = subprocess.run(
        ["git", "-C", str(repo), "show", f"{ref}:{path}"], capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else None


def test_recorded_names_are_in_the_slicer_files_named():
    slicer_repo = MIRRORS / "Slicer+Slicer" / "repo"
    ctk_repo = MIRRORS / "commontk+CTK" / "repo"
    if not slicer_repo.exists():
        pytest.skip(f"no Slicer mirror at {slicer_repo}")
    failures = []
    for name, (path, needle) in CHECKED.items():
        if path.startswith("CTK@"):
            if not ctk_repo.exists():
                continue
            text = _show(ctk_repo, CTK_COMMIT, path.split(":", 1)[1])
        else:
            text = _show(slicer_repo, SLICER_TAG, path)
        if text is None or needle not in text:
            failures.append((name, path, needle))
    assert failures == []


def test_keyword_arguments_exist_in_the_slicer_signatures():
    """Every keyword our Widgets pass to a Slicer Python function is a parameter of that
    function at the Slicer tag (a renamed or absent keyword is a TypeError in Slicer)."""
    slicer_repo = MIRRORS / "Slicer+Slicer" / "repo"
    if not slicer_repo.exists():
        pytest.skip(f"no Slicer mirror at {slicer_repo}")
    checked = 0
    for name, keywords in keyword_uses().items():
        path, _ = CHECKED[name]
        if not path.endswith(".py"):
            continue
        text = _show(slicer_repo, SLICER_TAG, path)
        function = name.rsplit(".", 1)[-1]
        defs = [
            n
            for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.FunctionDef) and n.name == function
        ]
        assert defs, f"{function} is not defined in {path}"
        args = defs[0].args
        if args.kwarg is not None:
            continue
        accepted = {a.arg for a in args.args + args.kwonlyargs + args.posonlyargs}
        assert keywords <= accepted, f"{name}: {sorted(keywords - accepted)} not in {path}"
        checked += 1
    assert checked >= 3


# --- tests use real Slicer objects --------------------------------------------------------------
_STAND_INS = re.compile(
    r"SimpleNamespace|MagicMock|unittest\.mock|\bMock\(|class\s+_?(Fake|Dummy|Stub)\w*"
)
_FAKED_MODULES = re.compile(r"sys\.modules\[\s*[\"'](slicer|qt|ctk|vtk)[\"']\s*\]\s*=")


def _test_files() -> list[Path]:
    return sorted(p for p in (REPO / "Testing").rglob("*.py") if p.name != Path(__file__).name)


def test_no_stand_ins_for_slicer_objects_in_the_tests():
    """Tests use real objects: real slicer-core nodes for Slicer code, the real core
    dataclasses elsewhere. No SimpleNamespace, mocks or dummy classes anywhere in Testing/
    (issue 14: a SimpleNamespace posing as a parameter node hid a defect), and nothing fakes
    the slicer, qt, ctk or vtk modules."""
    offenders = []
    for path in _test_files():
        text = path.read_text(encoding="utf-8")
        if _FAKED_MODULES.search(text) or _STAND_INS.search(text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_the_libs_never_see_a_parameter_node():
    """The Logic turns the parameter node into plain arguments (DESIGN.md section 2)."""
    for module in MODULES:
        for path in (REPO / module / f"{module}Lib").glob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\bp\.[a-z]\w*[A-Z]", text), f"{path.name} reads p.<field>"
            assert "parameterNodeWrapper import" not in text, path.name
            for func in (n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)):
                args = [a.arg for a in func.args.args + func.args.kwonlyargs]
                assert "p" not in args, f"{path.name}: {func.name} takes a parameter node"


def test_the_catalog_entry_names_the_dicom_modalities_the_plugin_loads():
    import json

    entry = json.loads((REPO / "Resources" / "Theranostics.json").read_text(encoding="utf-8"))
    rule = entry["dicom_support_rule"]
    assert "Modality == 'NM'" in rule and "Modality == 'PT'" in rule
