"""The self-contained HTML report of a dosimetry run (images and charts inline).

Sections: patient and study, administration, time points, registration quality, images
(MIPs of activity-derived maps, axial CT slices with the dose in colour and isodose lines),
time-activity curves with fits and uncertainty bands (SVG), DVHs (SVG), dose and BED table,
plan comparison, notes and provenance. A PDF copy is written next to it when a converter is
available (:mod:`theranostics.report.pdf`); otherwise ``results.json`` notes that it was not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..report import HtmlReport, Section, mip_png, png_data_uri
from ..report.charts import Series, line_chart_svg
from ..report.html import esc, figure, table
from ..report.overlay import dose_overlay_png, legend_html


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _study_section(res: dict) -> Section:
    patient = table(["field", "value"], [[k, _f(v)] for k, v in res["patient"].items()], left=2)
    adm = table(
        ["nuclide", "radiopharmaceutical", "activity MBq", "administration"],
        [
            [
                res["nuclide"],
                _f(res.get("radiopharmaceutical")),
                _f(res["administered_activity_MBq"], 5),
                _f(res["administration_datetime"]),
            ]
        ],
        left=4,
    )
    tps = table(
        ["time point", "time h"], [[t["name"], f"{t['time_h']:.2f}"] for t in res["time_points"]]
    )
    return Section(
        "Patient, administration, time points",
        "ok",
        "<h3>Patient</h3>"
        + patient
        + "<h3>Administration</h3>"
        + adm
        + "<h3>Time points</h3>"
        + tps,
    )


def _registration_section(res: dict) -> Section:
    rows = []
    for i, reg in enumerate(res["registration"]):
        if reg is None:
            rows.append([res["time_points"][i]["name"], "reference / not registered", "-", "-"])
            continue
        q = reg.get("quality", {})
        keys = sorted(k for k, v in q.items() if isinstance(v, (int, float)))
        rows.append(
            [
                res["time_points"][i]["name"],
                "; ".join(f"{k} {_f(float(q[k]))}" for k in keys) or "-",
                "; ".join(reg.get("warnings", [])) or "-",
                "rigid" if not reg.get("bspline") else "rigid + B-spline",
            ]
        )
    return Section(
        "Registration quality",
        "ok",
        table(["time point", "quality", "warnings", "transform"], rows, left=4),
    )


def _images_section(result) -> Section:
    dose = sitk.GetArrayViewFromImage(result.dose_Gy)
    spacing = result.dose_Gy.GetSpacing()
    figs = [
        figure(png_data_uri(mip_png(dose, spacing, invert=False)), "dose MIP (anterior)"),
        figure(
            png_data_uri(mip_png(sitk.GetArrayViewFromImage(result.bed_Gy), spacing, invert=False)),
            "BED MIP (anterior)",
        ),
    ]
    legend = ""
    if result.reference_ct is not None:
        ct = sitk.Resample(
            result.reference_ct, result.dose_Gy, sitk.Transform(), sitk.sitkLinear, -1000.0
        )
        ct_a = sitk.GetArrayViewFromImage(ct)
        slices = [int(np.argmax(dose.reshape(dose.shape[0], -1).max(axis=1)))]
        for name in ("kidney_left", "liver", "lesion_01"):
            if name in result.masks:
                m = sitk.GetArrayViewFromImage(result.masks[name])
                ks = np.nonzero(m.any(axis=(1, 2)))[0]
                if ks.size:
                    slices.append(int(ks[ks.size // 2]))
        levels = None
        for k in dict.fromkeys(slices):
            png, levels = dose_overlay_png(ct_a, dose, spacing, slice_index=k, levels=levels)
            figs.append(figure(png_data_uri(png), f"axial slice {k} with dose and isodoses"))
        legend = legend_html(levels) if levels else ""
    return Section("Dose and BED images", "ok", "".join(figs) + legend)


def _tac_section(result) -> Section:
    charts = []
    for group in ("organ", "lesion"):
        series = []
        for name, curve in result.kinetics.items():
            s = result.results["structures"].get(name)
            if s is None or s["category"] != group:
                continue
            t, a = curve["times_h"], curve["activities_MBq"]
            series.append(Series(f"{name} (measured)", t.tolist(), a.tolist(), kind="points"))
            fit = curve.get("fit")
            if fit is not None:
                grid = np.linspace(0.0, max(float(t.max()) * 1.2, 1.0), 80)
                y = np.asarray(fit.curve_MBq(grid), dtype=float)
                rel = s["tia_uncertainty_MBq_h"] / s["tia_MBq_h"] if s["tia_MBq_h"] > 0 else 0.0
                series.append(
                    Series(
                        f"{name} ({fit.model})",
                        grid.tolist(),
                        y.tolist(),
                        band_low=(y * (1 - 1.96 * rel)).tolist(),
                        band_high=(y * (1 + 1.96 * rel)).tolist(),
                    )
                )
        if series:
            charts.append(
                line_chart_svg(
                    series,
                    title=f"Time-activity curves ({group}s)",
                    x_label="time after administration (h)",
                    y_label="activity (MBq)",
                    y_log=True,
                    width=720,
                    height=420,
                )
            )
    note = (
        "<p class='note'>Bands: fitted curve ×(1 ± 1.96 u<sub>rel</sub>) with u<sub>rel</sub> "
        "the relative standard uncertainty of the structure TIA (an approximate 95 % band).</p>"
    )
    return Section("Time-activity curves", "ok", "".join(charts) + note)


def _dvh_section(result) -> Section:
    # 5 % past the maximum dose so that every curve ends at 0 %
    axis = np.linspace(0.0, 1.05 * float(sitk.GetArrayViewFromImage(result.dose_Gy).max()), 121)
    rho_note = "mass-weighted, fractional occupancy"
    charts = []
    for group in ("organ", "lesion"):
        series = [
            Series(name, axis.tolist(), dvh.volume_percent_at(axis).tolist())
            for name, dvh in result.dvhs.items()
            if result.results["structures"].get(name, {}).get("category") == group
        ]
        if series:
            charts.append(
                line_chart_svg(
                    series,
                    title=f"Cumulative DVH ({group}s, {rho_note})",
                    x_label="dose (Gy)",
                    y_label="volume (%)",
                    width=720,
                    height=420,
                )
            )
    return Section("Dose-volume histograms", "ok", "".join(charts))


def _dose_table(res: dict) -> Section:
    rows = []
    for name, s in res["structures"].items():
        d = s["dvh"]
        rows.append(
            [
                name,
                s["category"],
                _f(s["mass_g"], 4),
                _f(s["tia_MBq_h"], 4),
                f"{_f(s['mean_dose_Gy'])} ± {_f(s['mean_dose_uncertainty_Gy'], 2)}",
                _f(s["bed_Gy"]),
                _f(s["dose_per_activity_Gy_per_GBq"]),
                _f(d["D98_Gy"]),
                _f(d["D50_Gy"]),
                _f(d["D2_Gy"]),
                _f(s["partial_volume_scale"]),
            ]
        )
    head = ["structure", "category", "mass g", "TIA MBq·h", "mean dose Gy", "BED Gy", "Gy/GBq"]
    head += ["D98 Gy (map)", "D50 Gy (map)", "D2 Gy (map)", "PV scale"]
    note = (
        "<p class='note'>Mean dose: dose-map mean rescaled to the structure TIA (PV scale = "
        "structure TIA / map TIA in the structure); D98/D50/D2 are read from the dose map as "
        "computed (resolution-limited).</p>"
    )
    return Section("Dose and BED per structure", "ok", table(head, rows, left=2) + note)


def _plan_section(res: dict) -> Section:
    rows = res["plan_comparison"]
    gamma = ""
    if res.get("gamma"):
        gamma = "<h3>3D gamma (planned map as reference)</h3>" + table(
            ["kind", "criteria", "pass rate %", "mean γ", "γ 95th percentile", "points"],
            [
                [
                    kind,
                    esc(
                        ", ".join(
                            f"{k} {v}"
                            for k, v in g["parameters"].items()
                            if not isinstance(v, dict)
                        )
                    ),
                    _f(g["pass_rate_percent"], 4),
                    _f(g["gamma_mean"]),
                    _f(g["gamma_p95"]),
                    g["evaluated_points"],
                ]
                for kind, g in res["gamma"].items()
            ],
        )
        gamma += _dvh_comparison_html(res)
    if not rows:
        if gamma:
            return Section("Planned versus delivered", "ok", gamma)
        return Section("Planned versus delivered", "skipped", "<p>No plan given.</p>")
    body = table(
        [
            "structure",
            "planned Gy",
            "planned at given activity Gy",
            "delivered Gy",
            "diff %",
            "within u",
            "flag",
        ],
        [
            [
                r["structure"],
                _f(r["planned_Gy"]),
                _f(r["planned_at_given_activity_Gy"]),
                f"{_f(r['delivered_Gy'])} ± {_f(r['delivered_uncertainty_Gy'], 2)}",
                _f(r["difference_percent"]),
                "yes" if r["within_uncertainty"] else "no",
                "DEVIATES" if r["flag"] else "",
            ]
            for r in rows
        ],
    )
    flagged = [r["structure"] for r in rows if r["flag"]]
    return Section("Planned versus delivered", "failed" if flagged else "ok", body + gamma)


def _dvh_comparison_html(res: dict) -> str:
    """DVH metrics planned versus delivered and the tolerance table (planned dose map)."""
    comparison, tolerances = res.get("dvh_comparison"), res.get("tolerance_table")
    if not comparison:
        return ""
    keys = ("mean_Gy", "D98_Gy", "D50_Gy", "D2_Gy")
    rows = [
        [name]
        + [
            f"{_f(c['metrics'][k]['a'])} → {_f(c['metrics'][k]['b'])}"
            for k in keys
            if k in c["metrics"]
        ]
        + [_f(c["max_volume_difference_percent"])]
        for name, c in comparison.items()
    ]
    html = "<h3>DVH, planned → delivered (same masks, mass-weighted)</h3>" + table(
        ["structure", "mean Gy", "D98 Gy", "D50 Gy", "D2 Gy", "largest curve gap (% points)"],
        rows,
    )
    if tolerances:
        failed = [r for r in tolerances["rows"] if r["passed"] is False]
        html += f"<h3>Tolerance table: {len(failed)} check(s) outside tolerance</h3>" + table(
            ["check", "structure", "value", "tolerance", "unit", "passed"],
            [
                [
                    esc(r["check"]),
                    esc(r.get("structure") or ""),
                    _f(r["value"]),
                    _f(r["tolerance"]),
                    esc(r["unit"]),
                    {True: "yes", False: "NO", None: "n/a"}[r["passed"]],
                ]
                for r in failed or tolerances["rows"][:20]
            ],
        )
    return html


def write_report(result, path: Path) -> Path:
    """Render the report of a :class:`.dosimetry.DosimetryResult` to ``path`` (atomically)."""
    res = result.results
    prov = res["provenance"]
    sections = [
        _study_section(res),
        _registration_section(res),
        _images_section(result),
        _tac_section(result),
        _dvh_section(result),
        _dose_table(res),
        _plan_section(res),
        Section(
            "Notes", "ok", "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in res["notes"]) + "</ul>"
        ),
        Section(
            "Provenance",
            "ok",
            "<h3>Parameters</h3><pre>"
            + esc(json.dumps(prov["parameters"], indent=1))
            + "</pre><h3>Input files (SHA-256)</h3>"
            + table(
                ["input", "files", "SHA-256 of the first"],
                [
                    [k, len(v), next(iter(v.values()), "-")]
                    for k, v in prov.get("input_sha256", {}).items()
                ],
                left=3,
            )
            + "<h3>Step timings (run-time field)</h3>"
            + table(["step", "s"], [[k, v] for k, v in prov.get("timing_s", {}).items()], left=1),
        ),
    ]
    intro = (
        f"<p>Software version {esc(res['software_version'])}; dose method "
        f"{esc(res['method'])}; {esc(res['structure_dose_rule'])}.</p>"
    )
    return HtmlReport("Post-therapy dosimetry", intro, sections).write(path)
