"""HTML report to PDF, when a converter is available on this machine.

A PDF is a convenience copy of the self-contained HTML report (for a patient record that
takes PDF only); the HTML stays the reference. No converter is a hard dependency. They are
tried in this order, the first one found is used:

1. ``weasyprint`` (Python package, ``pip install weasyprint``; needs the Pango library of
   the operating system, present on most Linux desktops, installable on macOS/Windows);
2. ``wkhtmltopdf`` on the PATH;
3. a Chromium-family browser on the PATH (``chromium``, ``chromium-browser``,
   ``google-chrome``), headless ``--print-to-pdf``.

The PDF is written to a temporary name and renamed into place, so a failed conversion never
leaves a partial file. Converters embed the conversion time in the PDF's metadata: a PDF is
not byte-identical between runs (the HTML is).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import InputError
from ..progress import ProgressCallback, report

#: Browser executables tried for headless printing.
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Longest a converter may run (s) before it is stopped.
DEFAULT_TIMEOUT_S = 300.0


def available_converter() -> str | None:
    """Name of the first working converter (``"weasyprint"``, ``"wkhtmltopdf"`` or a
    browser executable), or ``None``."""
    try:
        import weasyprint  # noqa: F401  (import fails without the Pango system library)

        return "weasyprint"
    except (ImportError, OSError):
        pass
    for name in ("wkhtmltopdf", *BROWSERS):
        if shutil.which(name):
            return name
    return None


def html_to_pdf(
    html_path: str | Path,
    pdf_path: str | Path | None = None,
    *,
    converter: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: ProgressCallback | None = None,
) -> Path:
    """Convert a self-contained HTML file to PDF (atomically).

    Args:
        html_path: the HTML report.
        pdf_path: output path; default the HTML path with ``.pdf``.
        converter: a name from :func:`available_converter` (default: the first available).
        timeout_s: the converter is stopped after this many seconds.
        progress: callback(fraction, message), called between weasyprint's layout and its
            PDF writing (a raised :class:`~theranostics.progress.Cancelled` stops there and
            leaves no file).

    Returns:
        The PDF path.

    Raises:
        InputError: no HTML file, no converter, or the conversion failed (the converter's
            message is included; no partial PDF is left).
    """
    html = Path(html_path)
    if not html.is_file():
        raise InputError("HTML report not found", path=html, fix="write the report first")
    out = Path(pdf_path) if pdf_path is not None else html.with_suffix(".pdf")
    name = converter or available_converter()
    if name is None:
        raise InputError(
            "no HTML-to-PDF converter is available",
            path=html,
            fix="pip install weasyprint, or put wkhtmltopdf or Chromium on the PATH; the "
            "HTML report can also be printed to PDF from a browser",
        )
    tmp = out.with_name(f".tmp-{out.name}")
    try:
        if name == "weasyprint":
            import weasyprint

            report(progress, 0.0, "PDF: page layout (weasyprint)")
            document = weasyprint.HTML(filename=str(html)).render()
            report(progress, 0.6, f"PDF: writing {len(document.pages)} pages")
            document.write_pdf(str(tmp))
        else:
            _run_external(name, html, tmp, timeout_s)
        if not tmp.is_file() or tmp.read_bytes()[:5] != b"%PDF-":
            raise InputError(f"{name} did not write a PDF", path=html, tag="converter")
        os.replace(tmp, out)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _run_external(name: str, html: Path, tmp: Path, timeout_s: float) -> None:
    exe = shutil.which(name) or name
    if name == "wkhtmltopdf":
        argv = [exe, "--quiet", "--enable-local-file-access", str(html), str(tmp)]
    else:
        argv = [
            exe,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}",
            html.resolve().as_uri(),
        ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{name} failed to run ({exc})", path=html, tag="converter") from exc
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no message"]
        raise InputError(
            f"{name} exited with status {done.returncode}: {message[0]}",
            path=html,
            tag="converter",
            fix="try another converter or print the HTML report from a browser",
        )
