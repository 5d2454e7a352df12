"""MRML adapters of the TheranosticPlanning module (no Qt): core images, masks and
RTSTRUCT to and from Slicer nodes."""
