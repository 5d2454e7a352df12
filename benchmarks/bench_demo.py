"""Wall time and peak memory of ``theranostics demo`` versus the phantom generation alone.

Each figure comes from a fresh child process (``python -m theranostics.cli.main ...``) whose
peak resident memory is read with ``resource.getrusage(RUSAGE_CHILDREN)`` inside a small
wrapper process, so measurements never mix; the seconds of each demo stage come from the
run's ``demo.json``. ``quick`` uses the small study only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": round(wall, 2), "peak_rss_MiB": round(ru.ru_maxrss / 1024, 1),
                  "cpu_s": round(ru.ru_utime + ru.ru_stime, 2)}))
"""


def _measure(args: list[str]) -> dict:
    cmd = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "theranostics.cli.main", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["rc"] != 0:
        raise RuntimeError(f"{args} exited with {figures['rc']}")
    return figures


def _stage_seconds(out: Path) -> dict[str, float]:
    """Seconds of each demo stage (generate, ingest, dosimetry) from the run's demo.json."""
    stages = json.loads((out / "demo.json").read_text())["stages"]
    return {name: row["seconds"] for name, row in stages.items()}


def _folder_MiB(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def run(quick: bool) -> dict:
    sizes = ["small"] if quick else ["small", "standard"]
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        root = Path(tmp)
        for size in sizes:
            study = root / f"study-{size}"
            gen = _measure(["phantom", str(study), "--size", size])
            gen["study_size_MiB"] = _folder_MiB(study)
            gen["files"] = sum(1 for p in study.rglob("*") if p.is_file())
            cache, out = root / f"cache-{size}", root / f"out-{size}"
            cold = _measure(["demo", "--size", size, "--cache", str(cache), "--out", str(out)])
            cold["stages_s"] = _stage_seconds(out)
            cold["report_KiB"] = round((out / "report.html").stat().st_size / 1024, 1)
            warm = _measure(["demo", "--size", size, "--cache", str(cache), "--out", str(out)])
            warm["stages_s"] = _stage_seconds(out)
            results[size] = {
                "phantom_generation": gen,
                "demo_cold_cache": cold,
                "demo_warm_cache": warm,
                "demo_over_generation_wall": round(cold["wall_s"] / gen["wall_s"], 2),
            }
    return results
