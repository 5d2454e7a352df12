"""Input and output of quantitative images: DICOM folders, NIfTI/NRRD with JSON sidecars,
RTSTRUCT.

Entry points:

- :func:`scan_directory` — find DICOM series in a folder tree, classify them, report skipped
  files;
- :func:`read_image` — one :class:`~theranostics.image.QuantitativeImage` from a DICOM file,
  a series folder, a scanned series record, or a NIfTI/NRRD file with its JSON sidecar;
- :func:`inspect_directory` — the series table of ``theranostics inspect``;
- :func:`read_rtstruct`, :func:`rasterize_rtstruct` — RTSTRUCT contours to masks on an
  image grid.
"""

from .inspect import inspect_directory
from .reader import read_image
from .rtstruct import rasterize_roi, rasterize_rtstruct, read_rtstruct
from .scan import ScanResult, SeriesRecord, SkippedFile, scan_directory

__all__ = [
    "ScanResult",
    "SeriesRecord",
    "SkippedFile",
    "inspect_directory",
    "rasterize_roi",
    "rasterize_rtstruct",
    "read_image",
    "read_rtstruct",
    "scan_directory",
]
