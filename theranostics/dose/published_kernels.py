"""Published Monte Carlo reference data for the electron kernels (entered as physical facts).

Two kinds of data, used to fit (:mod:`.point_kernels`) and to check (tests, ``benchmarks``)
our kernels; nothing here is used to compute a dose.

**Scaled dose point kernels** J(x) of monoenergetic electrons in water: the fraction of the
initial kinetic energy deposited per unit scaled radius x = r/r0 around an isotropic point
source, r0 the CSDA range (∫ J dx ≈ 1).

* ETRAN (Seltzer SM 1991, *Electron-photon Monte Carlo calculations: the ETRAN code*, Appl
  Radiat Isot 42:917), at 0.1, 0.5 and 1 MeV on x = 0, 0.025, ..., 1.2, as tabulated by
  Ferrer L et al. 2007 (Cancer Biother Radiopharm 22:125) and shipped with the Geant4
  example ``electromagnetic/TestEm12`` (``berger/Etran/*-DPK.ascii``).
* EGSnrc, user code EDKnrc (Mainegra-Hing E, Rogers DWO, Kawrakow I 2005, Med Phys 32:685),
  PRESTA-II, ESTEPE 1 %, at 0.1 and 1 MeV, bin means over x-bins of width 0.05 centred at
  the tabulated x, from the same Geant4 example (``berger/EGSnrc/*-DPK.ascii``,
  October 2010).

**Voxel S-values** of soft tissue from Lanconelli N, Pacilio M, Lo Meo S, Botta F, Di Dia A,
Torres Aroche LA, Coca Pérez MA, Cremonesi M 2012, *A free database of radionuclide voxel S
values for the dosimetry of nonuniform activity distributions*, Phys Med Biol 57:517-533
(DOSXYZnrc/EGSnrc, cubic voxels, source uniform in the central voxel), read from the
database files ``<nuclide><size>mmsoft.txt`` ("Soft tissue", mGy/(MBq·s), three significant
digits) as redistributed with the MIT-licensed MIRDCalculator
(``MGHPhysicsResearch/MIRDCalculation``, ``MIRD/VoxelSValues``); only the offsets used in the
comparison are entered. What the full files imply (our check, ``docs/dose-engine.md``):
summed over the 11³ kernel times the
voxel mass at 1.04 g/mL they hold 0.934-0.936 MeV per 90Y decay, i.e. the 90Y electron
energy (ICRP 107: 0.93311 MeV), so the soft tissue has density 1.04 g/mL; for 177Lu they
hold 0.140-0.143 MeV, close to the beta energy (0.13327 MeV) plus the photon energy absorbed
in the grid and well below beta + conversion/Auger electrons (0.14792 MeV), so conversion and
Auger electrons were not followed for 177Lu.
"""

from __future__ import annotations

import numpy as np


def _pairs(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split()]).reshape(-1, 2)


#: ETRAN scaled dose point kernels in water, {energy MeV: array of (x, J)}.
ETRAN_SCALED_DPK = {
    0.1: _pairs(
        """0.0 0.572 0.025 0.588 0.05 0.607 0.075 0.627 0.1 0.65 0.125 0.676 0.15 0.704
        0.175 0.735 0.2 0.769 0.225 0.806 0.25 0.848 0.275 0.893 0.3 0.944 0.325 1.001
        0.35 1.063 0.375 1.131 0.4 1.202 0.425 1.276 0.45 1.35 0.475 1.422 0.5 1.49
        0.525 1.55 0.55 1.601 0.575 1.637 0.6 1.658 0.625 1.659 0.65 1.638 0.675 1.592
        0.7 1.521 0.725 1.422 0.75 1.293 0.775 1.138 0.8 0.969 0.825 0.807 0.85 0.662
        0.875 0.533 0.9 0.414 0.925 0.306 0.95 0.211 0.975 0.134 1.0 0.076 1.025 0.039
        1.05 0.018 1.075 0.007 1.1 0.003 1.125 0.001 1.15 0.0 1.175 0.0 1.2 0.0"""
    ),
    0.5: _pairs(
        """0.0 0.674 0.025 0.698 0.05 0.721 0.075 0.742 0.1 0.763 0.125 0.783 0.15 0.805
        0.175 0.828 0.2 0.854 0.225 0.882 0.25 0.914 0.275 0.949 0.3 0.989 0.325 1.035
        0.35 1.086 0.375 1.142 0.4 1.203 0.425 1.266 0.45 1.33 0.475 1.393 0.5 1.452
        0.525 1.505 0.55 1.549 0.575 1.579 0.6 1.593 0.625 1.588 0.65 1.562 0.675 1.513
        0.7 1.442 0.725 1.349 0.75 1.235 0.775 1.103 0.8 0.956 0.825 0.797 0.85 0.633
        0.875 0.473 0.9 0.336 0.925 0.23 0.95 0.152 0.975 0.092 1.0 0.048 1.025 0.019
        1.05 0.007 1.075 0.002 1.1 0.001 1.125 0.0 1.15 0.0 1.175 0.0 1.2 0.0"""
    ),
    1.0: _pairs(
        """0.0 0.774 0.025 0.773 0.05 0.798 0.075 0.82 0.1 0.84 0.125 0.858 0.15 0.876
        0.175 0.895 0.2 0.915 0.225 0.936 0.25 0.961 0.275 0.988 0.3 1.02 0.325 1.056
        0.35 1.096 0.375 1.141 0.4 1.19 0.425 1.242 0.45 1.295 0.475 1.348 0.5 1.397
        0.525 1.441 0.55 1.477 0.575 1.503 0.6 1.517 0.625 1.516 0.65 1.499 0.675 1.461
        0.7 1.4 0.725 1.313 0.75 1.201 0.775 1.068 0.8 0.92 0.825 0.765 0.85 0.612
        0.875 0.472 0.9 0.349 0.925 0.243 0.95 0.153 0.975 0.084 1.0 0.04 1.025 0.016
        1.05 0.006 1.075 0.002 1.1 0.001 1.125 0.0 1.15 0.0 1.175 0.0 1.2 0.0"""
    ),
}
#: Width of the x-bins of the ETRAN values (point values on a 0.025 grid).
ETRAN_BIN_WIDTH = 0.025

#: EGSnrc (EDKnrc) scaled dose point kernels in water, {energy MeV: array of (x, J)}.
EGSNRC_SCALED_DPK = {
    0.1: _pairs(
        """0.029 0.577 0.076 0.630 0.126 0.680 0.176 0.739 0.225 0.813 0.275 0.900
        0.325 1.002 0.375 1.120 0.425 1.248 0.475 1.375 0.525 1.494 0.575 1.572
        0.625 1.601 0.675 1.553 0.725 1.402 0.775 1.190 0.825 0.916 0.875 0.614
        0.925 0.349 0.975 0.157 1.025 0.050 1.075 0.009 1.125 0.001 1.175 0.000"""
    ),
    1.0: _pairs(
        """0.029 0.764 0.076 0.814 0.126 0.850 0.176 0.886 0.225 0.930 0.275 0.984
        0.325 1.050 0.375 1.130 0.425 1.222 0.475 1.318 0.525 1.405 0.575 1.466
        0.625 1.483 0.675 1.436 0.725 1.313 0.775 1.103 0.825 0.834 0.875 0.536
        0.925 0.279 0.975 0.104 1.025 0.024 1.075 0.002 1.125 0.000 1.175 0.000"""
    ),
}
#: Width of the x-bins of the EGSnrc values.
EGSNRC_BIN_WIDTH = 0.05

#: Density of the soft tissue of the Lanconelli et al. database, g/mL (see module docstring).
LANCONELLI_SOFT_TISSUE_DENSITY_G_PER_ML = 1.04
#: Lattice offsets (i, j, k) of the values in :data:`LANCONELLI_SOFT_TISSUE_SVALUES`.
LANCONELLI_OFFSETS = ((0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 0, 0))
#: Lanconelli et al. 2012 soft-tissue voxel S-values, mGy/(MBq·s):
#: {nuclide: {voxel side mm: values at :data:`LANCONELLI_OFFSETS`}}.
LANCONELLI_SOFT_TISSUE_SVALUES = {
    "Y-90": {
        2.21: (3.00, 0.570, 0.226, 0.120, 0.0700),
        3.0: (1.59, 0.275, 0.0950, 0.0429, 0.0205),
        4.42: (0.689, 0.0973, 0.0248, 0.00778, 0.00210),
        4.8: (0.573, 0.0763, 0.0178, 0.00507, 0.00111),
        6.0: (0.342, 0.0380, 0.00686, 0.00145, 0.000131),
    },
    "Lu-177": {
        2.21: (1.66, 0.0483, 0.00252, 0.000250, 7.70e-05),
        3.0: (0.693, 0.0151, 0.000617, 7.98e-05, 4.08e-05),
        4.42: (0.226, 0.00339, 0.000119, 2.82e-05, 1.88e-05),
        4.8: (0.178, 0.00246, 8.65e-05, 2.35e-05, 1.61e-05),
        6.0: (0.0925, 0.00104, 3.94e-05, 1.46e-05, 1.04e-05),
    },
    "I-131": {
        2.21: (2.10, 0.0925, 0.00804, 0.00170, 0.000857),
        3.0: (0.899, 0.0302, 0.00241, 0.000726, 0.000465),
        4.42: (0.300, 0.00733, 0.000673, 0.000305, 0.000215),
        4.8: (0.237, 0.00544, 0.000533, 0.000256, 0.000182),
        6.0: (0.125, 0.00247, 0.000298, 0.000163, 0.000117),
    },
}
