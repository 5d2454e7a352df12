"""The ``theranostics`` command line: headless access to the core workflows."""


def format_cell(value) -> str:
    """A value for a terminal table: ``-`` for None, 4 significant digits for floats."""
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
