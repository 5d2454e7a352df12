"""The panels stay thin and consistent with their .ui files (Slicer cannot run here).

- every ``SlicerParameterName`` in a .ui names a field of the module's parameter node and
  every field is bound to a widget of a matching kind;
- the .ui files are Qt Designer XML using only Qt, CTK and Slicer widget classes, every
  custom class declared with its header, every MRML widget connected to the scene;
- every push button is connected in the Widget, every Logic method the Widget calls exists;
- the Widget and Logic classes do no array computation (no numpy/SimpleITK names).
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = ("TheranosticPlanning", "DoseMapping")

#: Widget kinds a parameter type may bind to (Slicer's parameterNodeWrapper connectors).
BINDABLE = {
    "float": {"QDoubleSpinBox", "ctkSliderWidget", "ctkDoubleSpinBox", "qMRMLSpinBox"},
    "int": {"QSpinBox", "ctkSliderWidget"},
    "bool": {"QCheckBox", "QPushButton", "ctkCheckBox"},
    "str": {"QLineEdit", "QComboBox"},
    "choice": {"QComboBox"},
    "pathlib.Path": {"ctkPathLineEdit"},
    "node": {"qMRMLNodeComboBox"},
}


def _ui(module: str) -> ET.ElementTree:
    return ET.parse(REPO / module / "Resources" / "UI" / f"{module}.ui")


def _module_ast(module: str) -> ast.Module:
    return ast.parse((REPO / module / f"{module}.py").read_text(encoding="utf-8"))


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"class {name} not found")


def _parameter_fields(module: str) -> dict[str, str]:
    """{field: kind} of the ``@parameterNodeWrapper`` class ``<Module>ParameterNode``."""
    cls = _class(_module_ast(module), f"{module}ParameterNode")
    decorators = [ast.unparse(d) for d in cls.decorator_list]
    assert "parameterNodeWrapper" in decorators, f"{cls.name} lacks @parameterNodeWrapper"
    fields = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            text = ast.unparse(stmt.annotation)
            if "Choice(" in text:
                kind = "choice"
            elif text.startswith("vtkMRML") or "vtkMRML" in text:
                kind = "node"
            else:
                kind = re.sub(r"^Annotated\[([\w.]+),.*\]$", r"\1", text)
            fields[stmt.target.id] = kind
    return fields


def _bound_widgets(module: str) -> dict[str, tuple[str, str]]:
    """{parameter name: (widget class, widget name)} from the .ui dynamic properties."""
    bound = {}
    for widget in _ui(module).iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                name = prop.findtext("string")
                assert name not in bound, f"{name} bound twice in {module}.ui"
                bound[name] = (widget.get("class"), widget.get("name"))
    return bound


@pytest.mark.parametrize("module", MODULES)
def test_parameter_names_match_the_parameter_node_both_ways(module):
    fields = _parameter_fields(module)
    bound = _bound_widgets(module)
    assert sorted(set(bound) - set(fields)) == [], "bound in the .ui but not a parameter"
    assert sorted(set(fields) - set(bound)) == [], "parameters without a widget"
    wrong = {
        name: (cls, fields[name])
        for name, (cls, _) in bound.items()
        if cls not in BINDABLE.get(fields[name], set())
    }
    assert wrong == {}, f"widget kinds that cannot bind to the parameter type: {wrong}"


@pytest.mark.parametrize("module", MODULES)
def test_units_are_part_of_numeric_parameter_names(module):
    unitless_ok = {"cycles"}  # a count
    fields = _parameter_fields(module)
    units = ("MBq", "Kg", "Gy", "GyPerGBq", "H", "ML", "Percent", "Mm", "Suv", "CpsPerMBq")
    missing = [
        name
        for name, kind in fields.items()
        if kind in ("float", "int") and name not in unitless_ok and not name.endswith(units)
    ]
    assert missing == [], f"numeric parameters without a unit suffix: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_ui_uses_only_qt_ctk_and_slicer_classes(module):
    tree = _ui(module)
    root = tree.getroot()
    assert root.tag == "ui" and root.get("version") == "4.0"
    assert root.findtext("class") == module
    classes = {w.get("class") for w in tree.iter("widget")} | {
        layout.get("class") for layout in tree.iter("layout")
    }
    foreign = sorted(c for c in classes if not re.match(r"^(Q|ctk|qMRML|qSlicer)[A-Z]\w*$", c))
    assert foreign == []
    custom = {c.findtext("class"): c.findtext("header") for c in tree.iter("customwidget")}
    undeclared = sorted(c for c in classes if not c.startswith("Q") and c not in custom)
    assert undeclared == [], f"custom widget classes without a <customwidget>: {undeclared}"
    assert all(h and h.endswith(".h") for h in custom.values())


@pytest.mark.parametrize("module", MODULES)
def test_every_mrml_widget_is_given_the_scene(module):
    tree = _ui(module)
    mrml = {w.get("name") for w in tree.iter("widget") if w.get("class", "").startswith("qMRML")}
    mrml.discard(module)
    connected = {
        c.findtext("receiver")
        for c in tree.iter("connection")
        if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
        and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"
    }
    assert sorted(mrml - connected) == []


@pytest.mark.parametrize("module", MODULES)
def test_node_selectors_offer_the_parameter_node_type(module):
    cls = _class(_module_ast(module), f"{module}ParameterNode")
    annotations = {
        s.target.id: ast.unparse(s.annotation) for s in cls.body if isinstance(s, ast.AnnAssign)
    }
    bound = _bound_widgets(module)
    for widget in _ui(module).iter("widget"):
        if widget.get("class") != "qMRMLNodeComboBox":
            continue
        param = next((n for n, (_, wname) in bound.items() if wname == widget.get("name")), None)
        types = [
            s.text
            for p in widget.findall("property")
            if p.get("name") == "nodeTypes"
            for s in p.iter("string")
        ]
        assert param is not None, f"{widget.get('name')} is not bound to a parameter"
        assert types and all(t in annotations[param] for t in types), (param, types)


@pytest.mark.parametrize("module", MODULES)
def test_every_button_is_connected_and_every_logic_call_exists(module):
    source = (REPO / module / f"{module}.py").read_text(encoding="utf-8")
    buttons = [w.get("name") for w in _ui(module).iter("widget") if w.get("class") == "QPushButton"]
    unconnected = [
        b for b in buttons if not re.search(rf"self\.ui\.{b}\.(connect\(|clicked\.connect)", source)
    ]
    assert unconnected == []
    tree = _module_ast(module)
    logic_methods = {
        f.name for f in _class(tree, f"{module}Logic").body if isinstance(f, ast.FunctionDef)
    }
    widget_src = ast.unparse(_class(tree, f"{module}Widget"))
    called = set(re.findall(r"self\.logic\.(\w+)\(", widget_src))
    assert sorted(called - logic_methods) == []


@pytest.mark.parametrize("module", MODULES)
def test_widget_and_logic_do_no_array_computation(module):
    tree = _module_ast(module)
    for name in (f"{module}Widget", f"{module}Logic"):
        names = {n.id for n in ast.walk(_class(tree, name)) if isinstance(n, ast.Name)}
        assert not names & {"np", "numpy", "sitk", "SimpleITK", "scipy"}, name
    top_imports = {
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert not top_imports & {"numpy", "SimpleITK", "scipy"}
