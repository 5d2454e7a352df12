"""MRML adapters of the DoseMapping module (no Qt)."""
