"""The Slicer (and Qt, CTK, PythonQt) API names our Slicer-side files use, read from their
source with :mod:`ast` (no Slicer needed).

Scope, per file of :data:`WIDGET_FILES` (the module scripts and the DICOM plugin):

- names imported from Slicer's Python packages (``slicer.*``, ``DICOMLib``, ``SampleData``,
  ``qt``, ``ctk``, ``vtk``): ``slicer.util.VTKObservationMixin``;
- attribute chains rooted at those modules, through calls:
  ``slicer.app.applicationLogic.GetSelectionNode.SetActiveTableID``;
- attributes used on ``self`` that the file does not define (inherited from Slicer's base
  classes): ``ScriptedLoadableModuleWidget.resourcePath``;
- methods called on ``self.ui.<widget>``, named by the widget's class in the module's
  ``.ui`` file: ``qMRMLTableView.setMRMLTableNode``;
- methods of the progress dialog (``self.dialog``, a ``QProgressDialog``) and of the
  parameter-node wrapper (``self._parameterNode``): ``QProgressDialog.setValue``,
  ``parameterNodeWrapper.connectGui``.

Methods called on MRML nodes held in local variables are not collected (their class is not
known without running the code); the Lib, which does that work, runs against the real
``slicer-core`` classes in ``Testing/mrml``.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Our files that run only inside Slicer, with the .ui file of their module.
WIDGET_FILES = {
    "TheranosticPlanning/TheranosticPlanning.py": (
        "TheranosticPlanning/Resources/UI/TheranosticPlanning.ui"
    ),
    "DoseMapping/DoseMapping.py": "DoseMapping/Resources/UI/DoseMapping.ui",
    "TheranosticPlanning/DICOMQuantitativePlugin.py": None,
}
ROOTS = ("slicer", "qt", "ctk", "vtk", "SampleData", "DICOMLib")

#: The base classes whose attributes ``self.<name>`` may come from, by our class suffix.
BASES = {
    "Widget": "ScriptedLoadableModuleWidget",
    "Logic": "ScriptedLoadableModuleLogic",
    "Test": "ScriptedLoadableModuleTest",
    "PluginClass": "DICOMPlugin",
}


def _chain(node) -> list[str] | None:
    """``a.b().c`` -> ``["a", "b", "c"]``; None when not rooted at a name."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return list(reversed(parts))
        else:
            return None


def _ui_classes(ui_file: str | None) -> dict[str, str]:
    if ui_file is None:
        return {}
    tree = ET.parse(REPO / ui_file)
    return {w.get("name"): w.get("class") for w in tree.iter("widget")}


def _defined_on_self(cls: ast.ClassDef) -> set[str]:
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            names.add(node.attr)
    return names


def used_names(path: str) -> set[str]:
    """The Slicer/Qt API names ``path`` uses (module docstring)."""
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    ui = _ui_classes(WIDGET_FILES[path])
    names: set[str] = set()
    # an attribute is inner when a longer chain continues it: ``x.a`` in ``x.a.b`` or in
    # ``x.a().b``; only the outermost attribute of a chain is read
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ROOTS:
            names.update(f"{node.module}.{a.name}" for a in node.names)
        if isinstance(node, ast.Attribute):
            inner.add(id(node.value))
            if isinstance(node.value, ast.Call):
                inner.add(id(node.value.func))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain = _chain(node)
        if chain and chain[0] in ROOTS:
            names.add(".".join(chain))
    fields = {
        stmt.target.id: ast.unparse(stmt.annotation)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        and any("parameterNodeWrapper" in ast.unparse(d) for d in cls.decorator_list)
        for stmt in cls.body
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
    }
    # methods called on MRML node fields of the parameter node (their class is annotated):
    # ``self._parameterNode.biomarkerTable.GetID()`` or ``p.doseVolume.GetAttribute(...)``
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain = _chain(node) or []
        start = 2 if chain[:2] == ["self", "_parameterNode"] else 1 if chain[:1] == ["p"] else 0
        if start and len(chain) > start + 1 and fields.get(chain[start], "").startswith("vtkMRML"):
            names.add(".".join([fields[chain[start]], *chain[start + 1 :]]))
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        base = next((b for suffix, b in BASES.items() if cls.name.endswith(suffix)), None)
        own = _defined_on_self(cls)
        for node in ast.walk(cls):
            if not isinstance(node, ast.Attribute) or id(node) in inner:
                continue
            chain = _chain(node)
            if not chain or chain[0] != "self" or len(chain) < 2:
                continue
            if chain[1] == "ui" and len(chain) >= 4:
                names.add(f"{ui.get(chain[2], '?')}.{chain[3]}")
            elif chain[1] == "dialog" and len(chain) >= 3:
                names.add(f"QProgressDialog.{chain[2]}")
            elif chain[1] == "_parameterNode" and len(chain) == 3:
                if chain[2] not in fields:  # our own fields are not Slicer API
                    names.add(f"parameterNodeWrapper.{chain[2]}")
            elif chain[1] not in own and base is not None:
                depth = 3 if chain[1] == "parent" else 2  # self.parent.isEntered
                names.add(f"{base}.{'.'.join(chain[1:depth])}")
    # the hook class's ``parent`` (a qSlicerScriptedLoadableModule) and the widgets' signals
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            chain = _chain(node)
            if chain and chain[:2] == ["self", "parent"] and len(chain) == 3:
                names.add(f"qSlicerAbstractCoreModule.{chain[2]}")
            elif chain and chain[0] == "parent" and len(chain) == 2:
                names.add(f"qSlicerAbstractCoreModule.{chain[1]}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "connect"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            chain = _chain(node.func.value)
            if chain and chain[:2] == ["self", "ui"] and len(chain) == 3:
                names.add(f"{ui.get(chain[2], '?')}.{node.args[0].value}")
            elif chain == ["slicer", "app"]:
                names.add(f"qSlicerApplication.{node.args[0].value}")
    return names


def all_used_names() -> dict[str, set[str]]:
    """{name: files using it} over :data:`WIDGET_FILES`."""
    found: dict[str, set[str]] = {}
    for path in WIDGET_FILES:
        for name in used_names(path):
            found.setdefault(name, set()).add(path)
    return found


def keyword_uses() -> dict[str, set[str]]:
    """{name: keyword arguments passed} for calls of Slicer-rooted functions in
    :data:`WIDGET_FILES` (``slicer.util.createProgressDialog(windowTitle=...)``)."""
    found: dict[str, set[str]] = {}
    for path in WIDGET_FILES:
        tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.keywords:
                chain = _chain(node.func)
                if chain and chain[0] in ROOTS:
                    keys = {k.arg for k in node.keywords if k.arg}
                    found.setdefault(".".join(chain), set()).update(keys)
    return found
