"""Self-contained HTML reports: PNG images inlined as base64, no server, no external files."""

from .html import HtmlReport, Section
from .images import mip_png, png_data_uri

__all__ = ["HtmlReport", "Section", "mip_png", "png_data_uri"]
