"""Every relative link in README.md and docs/*.md points to a file or folder that exists.

Markdown inline links and images (``[text](target)``, ``![alt](target)``) and reference
definitions (``[label]: target``) are checked; links inside fenced or inline code are not
links and are skipped, as are URLs with a scheme (``https:``, ``mailto:``) and pure anchors.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(\s*)(```|~~~).*?^\1\2\s*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose(text: str) -> str:
    """The document without code (fenced blocks, then inline code spans)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def relative_targets(text: str) -> list[str]:
    """Link targets of ``text`` that name a local path (anchors and queries removed)."""
    body = prose(text)
    targets = INLINE.findall(body) + REFERENCE.findall(body)
    out = []
    for target in targets:
        if SCHEME.match(target) or target.startswith("#"):
            continue
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if path:
            out.append(path)
    return out


def test_parser_finds_links_and_skips_code():
    text = (
        'See [a](docs/a.md#x), ![img](figures/p.png "t") and [web](https://x.org).\n'
        "[ref]: other.md\n"
        "```\n[not](a-link.md)\n```\n"
        "Inline `[nor](this.md)` either; [anchor](#top).\n"
    )
    assert relative_targets(text) == ["docs/a.md", "figures/p.png", "other.md"]


def test_documents_exist():
    assert (REPO / "README.md").is_file()
    assert (REPO / "docs" / "index.md").is_file(), "docs/index.md lists every document"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(document: Path):
    broken = [
        target
        for target in relative_targets(document.read_text(encoding="utf-8"))
        if not (document.parent / target).exists()
    ]
    assert not broken, f"{document.relative_to(REPO)}: links to missing files {broken}"


def test_index_lists_every_document():
    """docs/index.md links every other document in docs/ (so none is orphaned)."""
    index = REPO / "docs" / "index.md"
    linked = {
        (index.parent / t).resolve() for t in relative_targets(index.read_text(encoding="utf-8"))
    }
    missing = [
        p.name for p in (REPO / "docs").glob("*.md") if p != index and p.resolve() not in linked
    ]
    assert not missing, f"docs/index.md does not link {sorted(missing)}"
