"""Theranostics core: radiopharmaceutical therapy imaging, dosimetry and planning.

Pure Python over numpy, scipy, SimpleITK and pydicom. It imports no ``slicer``, ``vtk`` or
``qt``: the 3D Slicer modules (``TheranosticPlanning``, ``DoseMapping``) and the ``theranostics``
command line are two views on the same functions.

Conventions (see DESIGN.md): images are SimpleITK images in DICOM/ITK LPS coordinates;
activity in MBq, time in hours (durations in seconds where a name says ``_s``), absorbed dose
in Gy, lengths in mm, mass in g, activity concentration in Bq/mL.
"""

__version__ = "0.1.0"
