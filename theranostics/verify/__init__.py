"""Verification of dose distributions: gamma index, planned-versus-delivered comparison.

Submodules are imported on their own (``theranostics.verify.gamma``,
``theranostics.verify.compare``); DVHs live in :mod:`theranostics.dose.dvh`.
"""
