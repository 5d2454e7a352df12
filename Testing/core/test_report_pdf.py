"""HTML report to PDF: real conversion when a converter is installed, clear refusals."""

from __future__ import annotations

import pytest

from theranostics.errors import InputError
from theranostics.report.pdf import available_converter, html_to_pdf

HTML = (
    "<html><body><h1>Dose 3.2 Gy (177Lu, γ)</h1>"
    "<svg width='120' height='60'><line x1='0' y1='0' x2='120' y2='60' stroke='black'/></svg>"
    "<table><tr><th>kidney</th><td>3.2</td></tr></table></body></html>"
)


def test_report_converts_to_a_pdf(tmp_path):
    converter = available_converter()
    if converter is None:
        pytest.skip("no HTML-to-PDF converter on this machine (pip install weasyprint)")
    html = tmp_path / "report.html"
    html.write_text(HTML, encoding="utf-8")
    pdf = html_to_pdf(html)
    assert pdf == tmp_path / "report.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.pdf"]


def test_missing_html_and_broken_converter_are_refused_without_partial_files(tmp_path):
    with pytest.raises(InputError, match="HTML report not found"):
        html_to_pdf(tmp_path / "absent.html")
    html = tmp_path / "report.html"
    html.write_text(HTML, encoding="utf-8")
    with pytest.raises(InputError, match="failed to run"):
        html_to_pdf(html, converter="no-such-converter-executable")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_report_with_matplotlib_figures_converts_with_the_figures(tmp_path):
    """The report's figures are inline matplotlib SVG; the PDF draws them (it grows by the
    figure's vector content compared with the same page without it)."""
    import numpy as np

    from theranostics.report.charts import DvhCurve, dvh_chart_svg

    converter = available_converter()
    if converter is None:
        pytest.skip("no HTML-to-PDF converter on this machine (pip install weasyprint)")
    dose = np.linspace(0, 10, 101)
    svg = dvh_chart_svg(
        [DvhCurve("kidney_left", dose, np.clip(100 * (1 - (dose - 3) / 2), 0, 100))],
        title="Cumulative DVH",
    )
    sizes = {}
    for name, body in (("plain", ""), ("figure", svg)):
        html = tmp_path / name / "report.html"
        html.parent.mkdir()
        html.write_text(f"<html><body><h1>Report</h1>{body}</body></html>", encoding="utf-8")
        sizes[name] = html_to_pdf(html).stat().st_size
    assert sizes["figure"] > sizes["plain"] + 1000


def test_figures_collected_for_the_pdf_get_png_copies_of_the_same_printed_size():
    """The PDF path draws each report figure as PNG (the HTML keeps the SVG): only figures
    drawn inside ``collect_png_twins`` are kept, and each PNG is an ``<img>`` of the
    figure's size in points."""
    import base64
    import re

    import numpy as np

    from theranostics.report.charts import DvhCurve, collect_png_twins, dvh_chart_svg, png_twins

    dose = np.linspace(0, 10, 101)
    curves = [DvhCurve("kidney_left", dose, np.clip(100 * (1 - (dose - 3) / 2), 0, 100))]
    outside = dvh_chart_svg(curves, title="outside")
    with collect_png_twins() as figures:
        inside = dvh_chart_svg(curves, title="inside", width_in=4.0, height_in=3.0)
    assert [svg for svg, _ in figures] == [inside] and outside != inside
    calls = []
    twins = png_twins(figures, dpi=50, progress=lambda f, m="": calls.append((f, m)))
    assert list(twins) == [inside] and calls == [(0.0, "figure 1 of 1 for the PDF")]
    img = twins[inside]
    assert "width:288.0pt;max-width:100%;height:auto" in img  # 4 inches, page-scaled
    png = base64.b64decode(re.search(r"base64,([^']+)'", img).group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (200, 150)  # 50 dpi


def test_pdf_conversion_reports_progress_and_cancel_leaves_no_file(tmp_path):
    from theranostics.progress import Cancelled

    if available_converter() != "weasyprint":
        pytest.skip("progress inside the conversion is weasyprint's (pip install weasyprint)")
    html = tmp_path / "report.html"
    html.write_text(HTML, encoding="utf-8")
    calls = []
    html_to_pdf(html, progress=lambda f, m="": calls.append(f))
    assert calls == [0.0, 0.6]

    def cancel(fraction, message=""):
        if fraction > 0.5:
            raise Cancelled

    (tmp_path / "report.pdf").unlink()
    with pytest.raises(Cancelled):
        html_to_pdf(html, progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
