"""Registration of SPECT/CT time points: CT-to-CT (rigid, optional B-spline) with SimpleITK,
and activity images brought onto a reference grid through each session's CT transform.

Convention: every transform maps points of the FIXED (reference) image's physical space to
the MOVING image's (ITK; what ``sitk.Resample(moving, fixed, transform)`` wants), LPS, mm.
See ``docs/registration.md``.
"""

from .body import DEFAULT_BODY_THRESHOLD_HU, body_mask
from .ct import CtRegistration, register_ct
from .quality import THRESHOLDS
from .resample import conservation_report, resample_activity
from .transforms import (
    box_corners,
    compare_transforms,
    euler_from_matrix,
    rigid_parameters,
    rotation_angle_deg,
    transform_from_motion,
)

__all__ = [
    "DEFAULT_BODY_THRESHOLD_HU",
    "THRESHOLDS",
    "CtRegistration",
    "body_mask",
    "box_corners",
    "compare_transforms",
    "conservation_report",
    "euler_from_matrix",
    "register_ct",
    "resample_activity",
    "rigid_parameters",
    "rotation_angle_deg",
    "transform_from_motion",
]
