"""Radionuclide emission data for dosimetry (ICRP 107, decay chains, user data files).

``theranostics.nuclides`` keeps names and half-lives; this package adds what each decay
emits. See :func:`get_emissions`.
"""

from .chains import progeny_decays_per_parent_decay
from .emissions import EmissionData, get_emissions, load_emissions, register_nuclide_file

#: Nuclides supported and tested out of the box.
SUPPORTED_NUCLIDES = (
    "Lu-177",
    "Y-90",
    "I-131",
    "Tb-161",
    "Ac-225",
    "Tc-99m",
    "Ga-68",
    "F-18",
    "In-111",
)

__all__ = [
    "SUPPORTED_NUCLIDES",
    "EmissionData",
    "get_emissions",
    "load_emissions",
    "progeny_decays_per_parent_decay",
    "register_nuclide_file",
]
