"""The synthetic patient study: a 177Lu therapy (post-therapy SPECT/CT time points and a
planning PET/CT) written as DICOM, with an exact ground truth.

Modules, one job each: :mod:`.anatomy` (analytic body, voxelisation, rigid poses),
:mod:`.kinetics` (uptake-washout curves, exact integrals), :mod:`.presets` (radiopharmaceutical
recipes and grid sizes), :mod:`.lesions` (seeded lesion drawing), :mod:`.spect` (motion,
PSF, Poisson), :mod:`.dicom_writers` (CT, NM, PET, SEG), :mod:`.truth` (masses, TIA, dose
model, NRRD/JSON) and :mod:`.generate` (orchestration). See ``docs/phantom.md``.
"""

from .generate import GENERATOR_VERSION, PhantomConfig, generate_study
from .presets import PRESETS, SIZES

__all__ = ["GENERATOR_VERSION", "PRESETS", "SIZES", "PhantomConfig", "generate_study"]
