"""Progress reporting for long core functions.

Long functions accept ``progress: ProgressCallback | None``; they call it with a fraction in
[0, 1] and a short message. The CLI shows it as a text progress bar, the Slicer widgets as a
progress dialog; ``None`` means silent.

Granularity (issue 14): long work calls ``progress`` often enough that the dialog moves and
Cancel is seen — CT registration at every optimiser iteration, the dose convolution before
each FFT, the gamma index per search shell, voxel kinetics per chunk, the dosimetry exports
per file. ``benchmarks/bench_progress.py`` measures the longest gap between two calls per
stage of the standard-study dosimetry. Callbacks raising :class:`Cancelled` inside SimpleITK
(whose commands turn exceptions into ``RuntimeError``) are caught there, the filter is stopped
and the ``Cancelled`` raised again (:mod:`theranostics.registration.ct`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]


class Cancelled(Exception):  # noqa: N818 - reads as "the run was cancelled"
    """Raised by a progress callback to stop a long computation (the Slicer progress
    dialog's Cancel button). Core functions let it propagate; because they write outputs
    atomically, a cancelled run leaves nothing half-written."""


def report(progress: ProgressCallback | None, fraction: float, message: str = "") -> None:
    """Call ``progress`` if given, clamping ``fraction`` to [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


def scaled(progress: ProgressCallback | None, start: float, stop: float) -> ProgressCallback | None:
    """A callback that maps a sub-task's [0, 1] onto [start, stop] of ``progress``."""
    if progress is None:
        return None
    return lambda f, m="": report(progress, start + (stop - start) * f, m)


class TextProgressBar:
    """A one-line text progress bar on a stream (stderr by default); silent if not a TTY
    unless ``force`` is true."""

    def __init__(self, stream=None, width: int = 30, force: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = force or getattr(self.stream, "isatty", lambda: False)()
        self._last = ""

    def __call__(self, fraction: float, message: str = "") -> None:
        if not self.enabled:
            return
        filled = round(fraction * self.width)
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% {message}"
        padded = line.ljust(len(self._last))
        self.stream.write(padded)
        self._last = line
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()
