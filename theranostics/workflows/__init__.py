"""Workflows: the orchestration the CLI and the Slicer modules share (one path, two views).

- :mod:`.kinetics` — multi-time-point SPECT/CT study to structure time-activity curves and
  TIA with uncertainty (:func:`~.kinetics.run_structure_kinetics`), and to a voxel TIA map
  (:func:`~.kinetics.run_voxel_tia`).

Submodules are imported on their own (``from theranostics.workflows.kinetics import ...``),
so importing this package loads nothing heavy.
"""
