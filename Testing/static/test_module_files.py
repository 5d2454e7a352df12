"""Module files agree with each other: CMake lists only files that exist, and every
``self.ui.<name>`` a module uses exists as a widget in its ``Resources/UI/<Module>.ui``."""

from __future__ import annotations

import glob
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = ("TheranosticPlanning", "DoseMapping")


def _cmake_without_comments(path: Path) -> str:
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


def _expand(token: str, variables: dict[str, list[str]]) -> list[str]:
    """Expand ``${VAR}`` references (a list variable expands to its items)."""
    whole = re.fullmatch(r"\$\{(\w+)\}", token)
    if whole:
        return variables.get(whole.group(1), [])
    return [re.sub(r"\$\{(\w+)\}", lambda m: " ".join(variables.get(m.group(1), [])), token)]


def cmake_listed_files(module: str) -> tuple[list[str], list[str]]:
    """(files listed in MODULE_PYTHON_SCRIPTS/RESOURCES, glob patterns) relative to the module."""
    folder = REPO / module
    text = _cmake_without_comments(folder / "CMakeLists.txt")
    variables: dict[str, list[str]] = {"CMAKE_CURRENT_SOURCE_DIR": [str(folder)]}
    patterns: list[str] = []
    for command, body in re.findall(r"\b(set|file)\s*\((.*?)\)", text, flags=re.DOTALL | re.I):
        tokens = body.split()
        if command.lower() == "set" and tokens:
            variables[tokens[0]] = [v for t in tokens[1:] for v in _expand(t, variables)]
        elif command.lower() == "file" and tokens[:1] == ["GLOB"]:
            # file(GLOB <var> RELATIVE <dir> <pattern>...): the files found become <var>
            var, rest = tokens[1], tokens[2:]
            if rest[:1] == ["RELATIVE"]:
                rest = rest[2:]
            found = []
            for pattern in rest:
                expanded = _expand(pattern, variables)[0]
                patterns.append(expanded)
                found += [str(Path(p).relative_to(folder)) for p in glob.glob(expanded)]
            variables[var] = sorted(found)
    listed = variables.get("MODULE_PYTHON_SCRIPTS", []) + variables.get(
        "MODULE_PYTHON_RESOURCES", []
    )
    return listed, patterns


@pytest.mark.parametrize("module", MODULES)
def test_cmake_lists_only_existing_files(module):
    listed, patterns = cmake_listed_files(module)
    assert f"{module}.py" in listed
    lib_files = [f for f in listed if f.startswith(f"{module}Lib/")]
    assert f"{module}Lib/__init__.py" in lib_files, f"the {module}Lib glob found nothing"
    assert any(p.endswith(f"{module}Lib/*.py") for p in patterns)
    missing = [f for f in listed if not (REPO / module / f).is_file()]
    assert missing == [], f"{module}/CMakeLists.txt lists missing files: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_name_used_exists_in_the_ui_file(module):
    source = (REPO / module / f"{module}.py").read_text(encoding="utf-8")
    used = sorted(set(re.findall(r"\bself\.ui\.(\w+)", source)))
    ui_file = REPO / module / "Resources" / "UI" / f"{module}.ui"
    if not ui_file.exists():
        assert used == [], f"{module}.py uses self.ui.{used} but {ui_file} does not exist"
        return
    tree = ET.parse(ui_file)
    names = {w.get("name") for w in tree.iter() if w.tag in ("widget", "layout", "action")}
    missing = [name for name in used if name not in names]
    assert missing == [], f"{module}.py uses self.ui.<name> missing from {ui_file.name}: {missing}"
    listed, _ = cmake_listed_files(module)
    assert f"Resources/UI/{module}.ui" in listed, f"{ui_file.name} is not installed by CMake"
