"""Entry point of the ``theranostics`` console script.

Each subcommand lives in its own module ``theranostics.cli.cmd_<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``. Input errors
(:class:`theranostics.errors.InputError`) are printed as one clear line and give exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import InputError

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMAND_MODULES = (
    "inspect",
    "suv",
    "phantom",
    "demo",
    "kernel",
    "sphere-svalue",
    "dose",
    "plan-rlt",
    "plan-sirt",
    "dosimetry",
    "lesions",
    "response",
    "tac",
    "tia",
    "gamma",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="theranostics",
        description="Radiopharmaceutical therapy imaging and dosimetry, headless.",
    )
    parser.add_argument("--version", action="version", version=f"theranostics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.cmd_{name.replace('-', '_')}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"theranostics {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover - python -m theranostics.cli.main
    sys.exit(main())
