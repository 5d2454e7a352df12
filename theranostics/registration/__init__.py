"""Registration of SPECT/CT time points: CT-to-CT rigid (optional B-spline) registration with
SimpleITK and activity-conserving resampling of each SPECT through its CT's transform
(method, quality figures and conventions in docs/registration.md)."""

from .ct import CtRegistration, register_ct
from .resample import resample_activity

__all__ = ["CtRegistration", "register_ct", "resample_activity"]
