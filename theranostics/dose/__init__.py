"""Absorbed dose: voxel S-value kernels, dose engines, density correction, sphere S-values.

Method, assumptions and validity range: ``docs/dose-engine.md``.
"""
