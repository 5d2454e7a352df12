"""Quantification: decay arithmetic, SUV factors, SPECT counts to activity concentration."""
