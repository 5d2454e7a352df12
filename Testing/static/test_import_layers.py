"""Import-layer rules of DESIGN.md, checked in fresh interpreters.

- the core ``theranostics`` (every submodule) loads no ``slicer``, ``vtk``/``vtkmodules`` or Qt;
- the module Libs (``<Module>Lib``) load no Qt, CTK or PythonQt, and their sources never reach
  for ``slicer.app``, the global ``slicer.mrmlScene`` or ``slicer.modules``.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = ("TheranosticPlanning", "DoseMapping")

#: Top-level module names that must not appear in sys.modules (compared on the first dotted part).
CORE_FORBIDDEN = ("slicer", "slicer_core", "vtk", "vtkmodules", "qt", "PythonQt", "ctk", "PyQt5",
                  "PyQt6", "PySide2", "PySide6")  # fmt: skip
LIB_FORBIDDEN = ("qt", "ctk", "PythonQt", "PyQt5", "PyQt6", "PySide2", "PySide6")

_PROBE = r"""
import importlib, json, pkgutil, sys
sys.path[:0] = {paths!r}
errors = {{}}
for top in {packages!r}:
    package = importlib.import_module(top)
    names = [top]
    if hasattr(package, "__path__"):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, top + ".")]
    for name in names:
        if name.split(".")[-1] == "__main__":
            continue  # runs the command line on import
        try:
            importlib.import_module(name)
        except Exception as exc:  # reported, so a broken module cannot hide a bad import
            errors[name] = repr(exc)
forbidden = {forbidden!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({{"loaded": loaded, "errors": errors, "modules": names}}))
"""


def _probe(packages: tuple[str, ...], forbidden: tuple[str, ...], paths: list[str]) -> dict:
    code = _PROBE.format(packages=packages, forbidden=forbidden, paths=paths)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_core_imports_no_slicer_vtk_or_qt():
    report = _probe(("theranostics",), CORE_FORBIDDEN, [str(REPO)])
    assert len(report["modules"]) > 5  # the walk really found the subpackages
    assert report["loaded"] == [], f"the core loaded {report['loaded']}"
    assert report["errors"] == {}, f"core modules failed to import: {report['errors']}"


def test_module_libs_import_no_qt():
    pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")
    paths = [str(REPO / m) for m in MODULES] + [str(REPO)]
    report = _probe(tuple(f"{m}Lib" for m in MODULES), LIB_FORBIDDEN, paths)
    assert report["loaded"] == [], f"a Lib loaded {report['loaded']}"
    assert report["errors"] == {}, f"Lib modules failed to import: {report['errors']}"


_LIB_FORBIDDEN_USE = re.compile(
    r"\bslicer\s*\.\s*(app|mrmlScene|modules)\b|^\s*(import|from)\s+(qt|ctk|PythonQt)\b",
    re.MULTILINE,
)


def _code_only(text: str) -> str:
    """The source with comments and string literals blanked (docstrings may name the rules)."""
    lines = text.splitlines(keepends=True)
    blanked = [list(line) for line in lines]
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        (row, col), (end_row, end_col) = token.start, token.end
        for r in range(row, end_row + 1):
            start = col if r == row else 0
            stop = end_col if r == end_row else len(blanked[r - 1])
            for c in range(start, stop):
                if blanked[r - 1][c] != "\n":
                    blanked[r - 1][c] = " "
    return "".join("".join(line) for line in blanked)


@pytest.mark.parametrize("module", MODULES)
def test_lib_sources_use_no_application_globals(module):
    sources = sorted((REPO / module / f"{module}Lib").rglob("*.py"))
    assert sources, f"{module}Lib has no Python files"
    offences = []
    for path in sources:
        text = _code_only(path.read_text(encoding="utf-8"))
        for match in _LIB_FORBIDDEN_USE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            offences.append(f"{path.relative_to(REPO)}:{line}: {match.group(0).strip()}")
    assert offences == [], "Lib code must take the scene as an argument:\n" + "\n".join(offences)
