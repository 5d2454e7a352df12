"""Run the benchmarks and write one JSON result file per benchmark.

Each ``benchmarks/bench_<name>.py`` defines ``run(quick: bool) -> dict``; the dict holds the
measured figures, side by side with a baseline or a peer measured in the same run. Results go
to ``benchmarks/results/<name>.json`` together with the machine they were measured on.

Usage: ``python -m benchmarks.run [NAME ...] [--quick]``
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine_info() -> dict:
    """A short description of the machine the figures were measured on."""
    import numpy
    import scipy
    import SimpleITK

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "SimpleITK": SimpleITK.Version_VersionString(),
    }


def available() -> list[str]:
    """Names of the benchmark modules in this folder."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {available()})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    names = args.names or available()
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        figures = module.run(quick=args.quick)
        record = {
            "benchmark": name,
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s_total": round(time.perf_counter() - started, 3),
            "quick": args.quick,
            "machine": machine_info(),
            "results": figures,
        }
        out = RESULTS / f"{name}.json"
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, default=str))
        os.replace(tmp, out)
        print(json.dumps(figures, indent=2, default=str))
        print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
