"""Kinetics: time-activity models, fitting, model selection, time-integrated activity (TIA),
fit-quality flags, uncertainty, single-time-point methods, partial-volume recovery and
voxel-wise TIA maps. Times in hours after administration, activities in MBq, TIA in MBq·h.
See ``docs/kinetics.md`` for the formulas and references.
"""

from .fit import MIN_POINTS, TacFit, fit_tac
from .models import EXPONENTIAL_MODELS, MODEL_NAMES, MODELS, TRAPEZOID_MODELS
from .recovery import EXAMPLE_TABLE, RecoveryTable, apply_recovery
from .selection import aicc, akaike_weights
from .single_time_point import (
    PopulationHalfLife,
    hanscheid_relative_error,
    hanscheid_tia_MBq_h,
    madsen_tia_MBq_h,
    madsen_tia_with_uncertainty,
    population_effective_half_life_h,
    population_half_life,
)
from .uncertainty import UncertaintyBudget, monte_carlo_tia, tia_uncertainty
from .voxel import VOXEL_MODELS, VoxelTiaResult, voxel_tia

__all__ = [
    "EXAMPLE_TABLE",
    "EXPONENTIAL_MODELS",
    "MIN_POINTS",
    "MODELS",
    "MODEL_NAMES",
    "TRAPEZOID_MODELS",
    "VOXEL_MODELS",
    "PopulationHalfLife",
    "RecoveryTable",
    "TacFit",
    "UncertaintyBudget",
    "VoxelTiaResult",
    "aicc",
    "akaike_weights",
    "apply_recovery",
    "fit_tac",
    "hanscheid_relative_error",
    "hanscheid_tia_MBq_h",
    "madsen_tia_MBq_h",
    "madsen_tia_with_uncertainty",
    "monte_carlo_tia",
    "population_effective_half_life_h",
    "population_half_life",
    "tia_uncertainty",
    "voxel_tia",
]
