"""Lesions on PET and quantitative SPECT: segmentation, biomarkers, response assessment, and
CT threshold organ masks (methods and references in docs/lesions.md).

Entry points:

- :func:`segment_lesions` -> :class:`LesionSegmentation` (fixed, PERCIST, percent-of-max and
  background-adaptive thresholds; organ exclusion; minimum volume; seeds);
- :func:`lesion_biomarkers` -> :class:`BiomarkerTable` (SUVmax/peak/mean, volume, total
  lesion uptake, activity, concentrations, centroids);
- :func:`assess_response` -> :class:`ResponseAssessment` (matching, PERCIST 1.0, RECIP 1.0);
- :func:`detect_lesions` -> :class:`LesionDetection` (the default of ``theranostics
  lesions``: candidates labelled lesion or physiological uptake from the CT landmarks of
  :func:`ct_anatomy` or from organ masks, PERCIST-style detection floor);
- :func:`ct_organ_masks` (body, lungs, bone from HU thresholds) and
  :func:`import_organ_masks` (RTSTRUCT, DICOM SEG, label maps, folders of NIfTI masks).
"""

from .biomarkers import BiomarkerTable, lesion_biomarkers
from .detection import LesionDetection, detect_lesions
from .exclusion import PHYSIOLOGICAL_KEYWORDS, select_physiological
from .organs_ct import (
    body_mask,
    bone_mask,
    ct_anatomy,
    ct_organ_masks,
    import_organ_masks,
    lung_masks,
)
from .response import ResponseAssessment, assess_response, match_lesions
from .segmentation import METHODS, LesionSegmentation, segment_lesions
from .suv_peak import brute_force_peak, lesion_peaks, sphere_kernel

__all__ = [
    "METHODS",
    "PHYSIOLOGICAL_KEYWORDS",
    "BiomarkerTable",
    "LesionDetection",
    "LesionSegmentation",
    "ResponseAssessment",
    "assess_response",
    "body_mask",
    "bone_mask",
    "brute_force_peak",
    "ct_anatomy",
    "ct_organ_masks",
    "detect_lesions",
    "import_organ_masks",
    "lesion_biomarkers",
    "lesion_peaks",
    "lung_masks",
    "match_lesions",
    "segment_lesions",
    "select_physiological",
    "sphere_kernel",
]
