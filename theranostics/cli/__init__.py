"""The ``theranostics`` command line: headless access to the core workflows."""
