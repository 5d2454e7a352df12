"""Exception types of the Theranostics core.

Every error caused by input data derives from :class:`InputError`, which carries the file, the
DICOM tag (or metadata key) at fault and what the user can do about it, so that the GUI, the
CLI and scripts can all show a message that names all three.
"""

from __future__ import annotations

from pathlib import Path


class TheranosticsError(Exception):
    """Base class of all errors raised on purpose by the Theranostics core."""


class InputError(TheranosticsError, ValueError):
    """Input data that cannot be used as it is.

    Args:
        message: what is wrong, in plain words.
        path: the file or folder at fault, when there is one.
        tag: the DICOM keyword/tag (e.g. ``"RadiopharmaceuticalStartDateTime (0018,1078)"``)
            or the metadata key at fault.
        fix: what the user can do (an option to pass, a tag to fill in ...).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        tag: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.tag = tag
        self.fix = fix
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = []
        if self.path:
            parts.append(f"{self.path}: ")
        parts.append(self.message)
        if self.tag:
            parts.append(f" [tag: {self.tag}]")
        if self.fix:
            parts.append(f" Fix: {self.fix}")
        return "".join(parts)

    def __reduce__(self):  # keep keyword-only fields through pickling (multiprocessing)
        return (_rebuild_input_error, (type(self), self.message, self.path, self.tag, self.fix))


def _rebuild_input_error(cls, message, path, tag, fix):
    return cls(message, path=path, tag=tag, fix=fix)


class NotDicomError(InputError):
    """The file is not a readable DICOM file (not DICOM at all, or truncated)."""


class MissingTagError(InputError):
    """A tag needed for the requested computation is absent or empty."""


class InvalidTagError(InputError):
    """A tag is present but its value is malformed, out of range or contradicts another tag."""


class GeometryError(InputError):
    """Image geometry is unusable: zero/negative spacing, duplicate or uneven slices,
    missing position/orientation, or grids that do not overlap."""


class MixedSeriesError(InputError):
    """Files that should form one image belong to different series or have different shapes."""


class TimingError(InputError):
    """Times are missing, unordered or impossible (e.g. acquisition before administration)."""


class UnitsError(InputError):
    """Pixel or activity units are unknown, missing or inconsistent with the request."""


class NuclideError(InputError):
    """The radionuclide is unknown or not supported for the requested computation."""


class QuantificationError(InputError):
    """A quantitative result (SUV, Bq/mL ...) cannot be computed from the data given."""


class SidecarError(InputError):
    """A JSON metadata sidecar for a NIfTI/NRRD image is missing, malformed or invalid."""


class OutputError(InputError):
    """The output location cannot be used: it exists as the wrong kind (a file where a folder
    is needed or the reverse), is not empty where it must be, or is not writable. Raised
    before any computation starts."""


class OptionError(InputError):
    """Options that contradict each other or lie outside what the computation can mean
    (e.g. more cycles than the maximum number of cycles, a negative threshold)."""


class PlausibilityError(InvalidTagError):
    """A value outside physical possibility (zero or negative duration, an activity of
    1e30 MBq, a weight of 0.07 kg ...): refused at the boundary, see ``docs/ingest.md``."""


class PhysicsError(InputError):
    """A result that contradicts physics given its inputs (e.g. more time-integrated
    activity than the administered activity can deliver); the inputs are at fault."""
