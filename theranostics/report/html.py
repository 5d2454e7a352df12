"""A self-contained HTML report: sections of HTML fragments, images inlined, written
atomically."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

_STYLE = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;max-width:1400px;
color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.status{font-size:.8em;padding:2px 6px;border-radius:3px;margin-left:.6em;color:#fff}
.ok{background:#2a7d2a} .skipped{background:#888} .failed{background:#b22}
figure{display:inline-block;margin:.4em;text-align:center;vertical-align:top}
figcaption{font-size:.8em;color:#555} .note{color:#555;font-size:.9em}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em}
svg{max-width:100%;height:auto}
@page{size:A4;margin:12mm}
@media print{body{margin:0} h2{break-after:avoid} svg{break-inside:avoid}}
"""


@dataclass
class Section:
    """One report section: a title, a status (``ok``, ``skipped``, ``failed``) and HTML."""

    title: str
    status: str = "ok"
    body_html: str = ""
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def table(headers: list[str], rows: list[list], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned text."""
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{esc(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{esc(c)}</td>' for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def figure(data_uri: str, caption: str) -> str:
    return (
        f'<figure><img src="{data_uri}" alt="{esc(caption)}"><figcaption>{esc(caption)}'
        "</figcaption></figure>"
    )


@dataclass
class HtmlReport:
    """Sections in order; :meth:`write` renders one HTML file with everything inline."""

    title: str
    intro_html: str = ""
    sections: list[Section] = field(default_factory=list)

    def render(self) -> str:
        parts = [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{esc(self.title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{esc(self.title)}</h1>",
            self.intro_html,
        ]
        for s in self.sections:
            took = f" ({s.seconds:.1f} s)" if s.seconds is not None else ""
            parts.append(
                f"<h2>{esc(s.title)}<span class='status {esc(s.status)}'>{esc(s.status)}"
                f"</span><span class='note'>{esc(took)}</span></h2>"
            )
            parts.extend(f"<p class='note'>{esc(n)}</p>" for n in s.notes)
            parts.append(s.body_html)
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        os.replace(tmp, path)
        return path
