"""The cohort's summary files: ``cohort_summary.csv`` (one row per study), ``cohort.json``
(everything, failures with their traceback) and ``cohort_report.html`` (per-structure
distributions across patients as box plots with the patients as points, matplotlib SVG
inline, and the failures listed). All three are written atomically."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..io.output_dir import write_text_atomically
from ..report.html import HtmlReport, Section, esc, table
from .tasks import Headline

#: Leading columns of the summary, then the task's headline columns.
BASE_COLUMNS = ("id", "status", "error", "wall_s", "worker", "study_dir")

#: Axis labels of the known metrics.
METRIC_LABELS = {
    "mean_dose_Gy": "mean absorbed dose (Gy)",
    "Gy_per_GBq": "absorbed dose per administered activity (Gy/GBq)",
    "D70_Gy": "minimum dose to the hottest 70 % (D70, Gy)",
    "tia_MBq_h": "time-integrated activity (MBq·h)",
    "effective_half_life_h": "effective half-life (h)",
    "predicted_dose_Gy": "predicted mean absorbed dose (Gy)",
}


def summary_rows(records: list[dict]) -> tuple[list[str], list[dict]]:
    """Columns and rows of the summary table (headline columns in order of appearance)."""
    columns = list(BASE_COLUMNS)
    rows = []
    for record in records:
        row = {k: record.get(k, "") for k in BASE_COLUMNS}
        row.update(Headline.from_json(record.get("headline")).columns())
        for key in row:
            if key not in columns:
                columns.append(key)
        rows.append(row)
    return columns, rows


def write_summary_csv(records: list[dict], path: Path) -> Path:
    """``cohort_summary.csv``: id, status (ok/failed/skipped), error ("Class: message"),
    wall_s (the study's computation time; for a skipped study, when it was computed),
    worker, study_dir and the task's headline numbers."""
    columns, rows = summary_rows(records)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomically(buffer.getvalue(), path)


def write_cohort_json(meta: dict, records: list[dict], path: Path) -> Path:
    """``cohort.json``: the run (task, options, scheduler, allowed failures, counts) and
    every study's record."""
    return write_text_atomically(
        json.dumps({**meta, "studies": records}, indent=1, default=str) + "\n", path
    )


def _distributions(records: list[dict]) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """``{metric: {structure or "lesions (pooled)": [(study id, value)]}}`` over the studies
    with results; scalars under the metric ``"per study"``."""
    out: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for record in records:
        if record.get("status") not in ("ok", "skipped"):
            continue
        head = Headline.from_json(record.get("headline"))
        lesions = set(head.lesions)
        for metric, values in head.per_structure.items():
            for structure, value in values.items():
                name = "lesions (pooled)" if structure in lesions else structure
                out.setdefault(metric, {}).setdefault(name, []).append((record["id"], value))
        for name, value in head.scalars.items():
            out.setdefault("per study", {}).setdefault(name, []).append((record["id"], value))
    return out


def distribution_figure(groups: dict[str, list[tuple[str, float]]], xlabel: str):
    """A matplotlib ``Figure``: horizontal box plots (one per group: quartiles, median,
    whiskers at 1.5 IQR) with every study as a jittered point. Built with matplotlib's
    object API (no pyplot, no change of the global backend, safe in Slicer)."""
    import numpy as np
    from matplotlib.figure import Figure

    names = list(groups)
    fig = Figure(figsize=(7.5, 0.9 + 0.32 * len(names)))
    ax = fig.add_subplot()
    data = [[v for _, v in groups[n] if math.isfinite(v)] for n in names]
    positions = np.arange(1, len(names) + 1)
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    horizontal = {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}
    ax.boxplot(
        data,
        positions=positions,
        **horizontal,
        widths=0.6,
        showfliers=False,
        medianprops={"color": "#D55E00"},
    )
    rng = np.random.default_rng(0)  # fixed jitter: the same report for the same results
    for pos, values in zip(positions, data):
        jitter = rng.uniform(-0.18, 0.18, len(values))
        ax.scatter(values, pos + jitter, s=14, color="#0072B2", alpha=0.8, zorder=3)
    finite = [v for values in data for v in values]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 30:
        ax.set_xscale("log")  # organs and lesions span decades: keep both readable
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#ddd")
    fig.tight_layout()
    return fig


def distribution_svg(groups: dict[str, list[tuple[str, float]]], xlabel: str) -> str:
    """:func:`distribution_figure` as an inline SVG fragment."""
    buffer = io.StringIO()
    distribution_figure(groups, xlabel).savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.find("<svg") :]


def _scalar_figures(groups: dict[str, list[tuple[str, float]]]) -> str:
    parts = []
    for name, values in groups.items():
        parts.append(
            f"<figure>{distribution_svg({name: values}, name)}"
            f"<figcaption>{esc(name)} across {len(values)} studies</figcaption></figure>"
        )
    return "".join(parts)


def write_report_html(meta: dict, records: list[dict], path: Path) -> Path:
    """``cohort_report.html``: counts, per-structure distributions across patients, the
    failures with their error, and the summary table. Self-contained (SVG inline)."""
    counts = meta.get("counts", {})
    intro = (
        f"<p>Task <b>{esc(meta.get('task'))}</b> over {len(records)} studies: "
        f"{counts.get('ok', 0)} computed, {counts.get('skipped', 0)} up to date, "
        f"{counts.get('failed', 0)} failed. Scheduler: {esc(meta.get('scheduler'))}; "
        f"allowed worker deaths per study: {esc(meta.get('allowed_failures'))}; "
        f"wall time {meta.get('wall_s', 0):.1f} s.</p>"
        f"<p class='note'>Options: {esc(' '.join(meta.get('task_options') or []) or 'none')}"
        "</p>"
    )
    report = HtmlReport(title="Theranostics cohort", intro_html=intro)
    failures = [r for r in records if r.get("status") == "failed"]
    for metric, groups in _distributions(records).items():
        if metric == "per study":
            body = _scalar_figures(groups)
        else:
            body = distribution_svg(groups, METRIC_LABELS.get(metric, metric))
        report.sections.append(
            Section(
                title=f"Distribution across patients: {METRIC_LABELS.get(metric, metric)}",
                body_html=body,
                notes=["box: quartiles and median, whiskers 1.5 IQR; points: one per study"],
            )
        )
    report.sections.append(
        Section(
            title=f"Failures ({len(failures)})",
            status="failed" if failures else "ok",
            body_html=table(
                ["id", "error", "study_dir"],
                [[r["id"], r.get("error", ""), r.get("study_dir", "")] for r in failures],
                left=3,
            )
            if failures
            else "<p>None.</p>",
        )
    )
    columns, rows = summary_rows(records)
    shown = columns[: len(BASE_COLUMNS) - 1]
    report.sections.append(
        Section(
            title="Studies",
            body_html=table(
                shown,
                [[row.get(c, "") for c in shown] for row in rows],
                left=3,
            )
            + f"<p class='note'>All numbers: {esc(path.with_name('cohort_summary.csv').name)}"
            "</p>",
        )
    )
    return report.write(path)
