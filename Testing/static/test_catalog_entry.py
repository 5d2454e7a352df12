"""The ExtensionsIndex entry ``Resources/Theranostics.json`` follows Slicer's catalog schema.

Schema facts (written out here because ``jsonschema`` is not a dependency), from
``Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json`` in the Slicer repository
(https://github.com/Slicer/Slicer/blob/main/Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json,
JSON Schema draft-07):

- ``required``: ``$schema``, ``category``, ``scm_url``; ``additionalProperties: false``.
- strings: ``$schema``, ``category``, ``scm_url``, ``scm_revision``, ``scm_type`` (enum
  ``git`` | ``local``, default ``git``), ``dicom_support_rule``, ``build_subdirectory``
  (default ``"."``).
- ``build_dependencies``: array of strings (names of other extensions).
- ``enabled``: boolean (default true).
- ``tier``: integer, 1 to 5 (1 experimental, 3 community-supported, 5 core-supported).

Versions v1.0.0 and v1.0.1 of the schema sit next to it; an entry names the one it follows
in ``$schema`` (the schema's ``$id`` with a trailing ``#``).

Beyond the schema, the entry must agree with the extension's top-level ``CMakeLists.txt``
(the metadata the Extensions Manager shows comes from there): the same category, a
repository URL that is the homepage's repository, and a file named after ``project()``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "Resources" / "Theranostics.json"

SCHEMA_URL = (
    "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/"
    "slicer-extension-catalog-entry-schema-v{version}.json#"
)
SCHEMA_VERSIONS = ("1.0.0", "1.0.1", "1.0.2")
REQUIRED = ("$schema", "category", "scm_url")
STRING_FIELDS = (
    "$schema",
    "category",
    "scm_url",
    "scm_revision",
    "scm_type",
    "dicom_support_rule",
    "build_subdirectory",
)
ALLOWED = (*STRING_FIELDS, "build_dependencies", "enabled", "tier")
SCM_TYPES = ("git", "local")
TIER_RANGE = (1, 5)


@pytest.fixture(scope="module")
def entry() -> dict:
    data = json.loads(ENTRY.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "the catalog entry must be a JSON object"
    return data


def cmake_setting(name: str) -> str:
    text = (REPO / "CMakeLists.txt").read_text()
    match = re.search(rf'set\(\s*{name}\s+"([^"]*)"\s*\)', text)
    assert match, f"CMakeLists.txt sets no {name}"
    return match.group(1)


def test_required_fields_present(entry):
    missing = [field for field in REQUIRED if field not in entry]
    assert not missing, f"{ENTRY.name} lacks required fields {missing}"


def test_no_fields_outside_the_schema(entry):
    extra = sorted(set(entry) - set(ALLOWED))
    assert not extra, f"{ENTRY.name}: fields {extra} are not in the schema"


def test_field_types(entry):
    for field in STRING_FIELDS:
        if field in entry:
            assert isinstance(entry[field], str), f"{field} must be a string"
            assert entry[field].strip(), f"{field} must not be empty"
    deps = entry.get("build_dependencies", [])
    assert isinstance(deps, list)
    assert all(isinstance(d, str) and d for d in deps), "build_dependencies: extension names"
    if "enabled" in entry:
        assert isinstance(entry["enabled"], bool)


def test_scm_type_and_tier(entry):
    assert entry.get("scm_type", "git") in SCM_TYPES
    tier = entry.get("tier", 1)
    # bool is an int in Python but not an integer in JSON Schema.
    assert isinstance(tier, int) and not isinstance(tier, bool), "tier must be an integer"
    assert TIER_RANGE[0] <= tier <= TIER_RANGE[1]


def test_schema_url_names_a_published_version(entry):
    known = [SCHEMA_URL.format(version=v) for v in SCHEMA_VERSIONS]
    assert entry["$schema"] in known, f"$schema must be one of {known}"


def test_scm_url_is_a_git_url(entry):
    url = entry["scm_url"]
    assert re.fullmatch(r"https://[\w.-]+/[\w.-]+/[\w.-]+(\.git)?", url), url
    assert entry.get("build_subdirectory", ".") == ".", "the extension is not a superbuild"


def test_entry_agrees_with_cmake(entry):
    assert entry["category"] == cmake_setting("EXTENSION_CATEGORY")
    homepage = cmake_setting("EXTENSION_HOMEPAGE").split("#", 1)[0].rstrip("/")
    assert entry["scm_url"].removesuffix(".git") == homepage
    project = re.search(r"project\(\s*(\w+)", (REPO / "CMakeLists.txt").read_text())
    assert project and ENTRY.stem == project.group(1)


def test_build_dependencies_match_cmake_depends(entry):
    depends = cmake_setting("EXTENSION_DEPENDS")
    expected = [] if depends == "NA" else depends.split()
    assert sorted(entry.get("build_dependencies", [])) == sorted(expected)
