"""Multi-time-point SPECT/CT studies: loading (one patient, one administration, time points
sorted by time after administration) and registration onto one reference grid."""

from .loading import SpectStudy, TimePoint, load_spect_study
from .registered import RegisteredStudy, register_study

__all__ = ["RegisteredStudy", "SpectStudy", "TimePoint", "load_spect_study", "register_study"]
