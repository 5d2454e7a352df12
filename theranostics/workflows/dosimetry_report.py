"""The self-contained HTML report of a dosimetry run (figures inline as SVG, drawn with
matplotlib by :mod:`theranostics.report.charts`).

Sections: **summary** (one screen: patient, administration, per-structure mean dose and BED
against their limits, the flags), patient and study, registration quality (one row per time
point), dose and BED images (axial slices on the CT with isodose lines, anterior MIPs, colour
bars in Gy), time-activity curves (small multiples), DVHs, dose and BED table,
planned versus delivered (comparison mode, plan table, gamma, DVH comparison, tolerance
table), notes and provenance. The PDF (:mod:`theranostics.report.pdf`) is this HTML printed,
so it has the same content.

Which dose each number is (docs/dosimetry.md): the structure mean dose is the dose-map mean
rescaled to the partial-volume-corrected structure TIA, and the DVH and its D98/D50/D2 are
of that same rescaled distribution; the images show the dose map as computed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..progress import ProgressCallback, report, scaled
from ..report import HtmlReport, Section
from ..report.html import esc, table

#: Structures whose slice is shown, when present (besides the hottest slice).
SLICE_STRUCTURES = ("kidney_left", "liver", "lesion_01", "parotid_left")

_SUMMARY_STYLE = (
    "<style>.summary td.flag{color:#b22;font-weight:bold;text-align:left}"
    ".summary td.okc{color:#2a7d2a;text-align:left} .summary td{padding:2px 6px}"
    ".flags{margin:.2em 0;font-size:.9em} .flags li{color:#b22}"
    # .ok is also the green badge class of the page: the "no flag" item keeps a plain background
    " .flags li.ok{color:#2a7d2a;background:none}"
    "</style>"
)


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------------------
# summary


_LIMIT_LABELS = {
    "absorbed_dose_Gy": "dose",
    "mean_absorbed_dose_Gy": "mean dose",
    "BED_Gy_with_risk_factors": "BED (risk factors)",
    "BED_Gy_without_risk_factors": "BED",
}


def _limits(name: str) -> list[tuple[str, str, float, str]]:
    """``(label, quantity key, limit Gy, source)`` of a structure from the tissue table."""
    from ..radiobiology import tissue_parameters
    from .dosimetry_metrics import tissue_for

    tissue = tissue_for(name)
    if tissue is None or tissue == "tumour":
        return []
    try:
        p = tissue_parameters(tissue)
    except Exception:  # a tissue without parameters: no limit to show
        return []
    source = (p.references[0] if p.references else "tissue table").split(".")[0]
    out = []
    for key, value in p.limits.items():
        quantity = "bed_Gy" if key.lower().startswith("bed") else "mean_dose_Gy"
        label = _LIMIT_LABELS.get(key, key.replace("_Gy", "").replace("_", " "))
        out.append((label, quantity, float(value), source))
    return out


def _short_check(check: str) -> str:
    return check.replace("DVH ", "").replace("_Gy", "")


def summary_flags(res: dict) -> list[str]:
    """Every flag of a run, one line per structure (limit exceeded, plan deviation, failed
    tolerance checks) and one per run-wide flag (gamma below its minimum, registration
    warnings)."""
    plan = {r["structure"]: r for r in res.get("plan_comparison") or []}
    tol = res.get("tolerance_table") or {}
    flagged = tol.get("flagged_structures") or {}
    lines = []
    for name, s in res["structures"].items():
        reasons = []
        for label, quantity, limit, _ in _limits(name):
            if s.get(quantity) is not None and s[quantity] > limit:
                reasons.append(f"{label} {s[quantity]:.3g} Gy above the {limit:g} Gy limit")
        r = plan.get(name)
        if r is not None and r["flag"]:
            reasons.append(
                f"{r['difference_percent']:+.1f} % vs plan (tolerance {r['tolerance_percent']:g} %,"
                " outside 2u)"
            )
        if name in flagged:
            text = "outside tolerance: " + ", ".join(_short_check(c) for c in flagged[name])
            if "DVH mean_Gy" not in flagged[name] and (r is None or not r["flag"]):
                text += " (the mean agrees within tolerance; the distribution's shape differs)"
            reasons.append(text)
        if reasons:
            lines.append(f"{name}: " + "; ".join(reasons))
    for row in tol.get("rows", []):
        if row.get("structure") is None and row["passed"] is False:
            lines.append(f"{row['check']}: {row['value']:.1f} % < {row['tolerance']:g} %")
    for i, reg in enumerate(res.get("registration") or []):
        for w in (reg or {}).get("warnings", []):
            lines.append(f"registration of {res['time_points'][i]['name']}: {w}")
    return lines


def _summary_section(res: dict) -> Section:
    patient = res.get("patient") or {}
    who = ", ".join(esc(v) for k, v in patient.items() if k in ("patient_id", "patient_name") and v)
    adm = (
        f"{_f(res['administered_activity_MBq'], 5)} MBq {esc(res['nuclide'])} "
        f"{esc(res.get('radiopharmaceutical') or '')} at "
        f"{esc(res['administration_datetime'] or '-')}"
    )
    plan = {r["structure"]: r for r in res.get("plan_comparison") or []}
    flagged = (res.get("tolerance_table") or {}).get("flagged_structures") or {}
    rows, lesions = [], []
    for name, s in res["structures"].items():
        p = plan.get(name)
        status = []
        limits = _limits(name)
        if any(s[q] > limit for _, q, limit, _ in limits):
            status.append("LIMIT")
        if p is not None and p["flag"]:
            status.append("PLAN")
        if name in flagged:
            status.append("TOLERANCE")
        if s["category"] != "organ":
            delta = f" ({p['difference_percent']:+.0f} %)" if p else ""
            mark = f" <b style='color:#b22'>{' '.join(status)}</b>" if status else ""
            lesions.append(f"{esc(name)} {_f(s['mean_dose_Gy'])} Gy{delta}{mark}")
            continue
        limit_txt = "; ".join(
            f"{label} {limit:g} Gy: {100 * s[q] / limit:.0f} %" for label, q, limit, _ in limits
        )
        rows.append(
            "<tr>"
            f"<td class='l'>{esc(name)}</td>"
            f"<td>{_f(s['mean_dose_Gy'])} ± {_f(s['mean_dose_uncertainty_Gy'], 2)}</td>"
            f"<td>{_f(s['bed_Gy'])}</td>"
            f"<td class='l'>{esc(limit_txt or '-')}</td>"
            f"<td>{_f(p['planned_at_given_activity_Gy']) if p else '-'}</td>"
            f"<td>{(format(p['difference_percent'], '+.1f') + ' %') if p else '-'}</td>"
            + (
                f"<td class='flag'>{esc(' '.join(status))}</td>"
                if status
                else "<td class='okc'>ok</td>"
            )
            + "</tr>"
        )
    head = (
        "<tr><th class='l'>organ</th><th>mean dose Gy ± u</th><th>BED Gy</th>"
        "<th class='l'>limits: this cycle in % of the cumulative limit</th><th>planned Gy</th>"
        "<th>Δ vs plan</th><th class='l'>flags</th></tr>"
    )
    flags = summary_flags(res)
    flag_html = (
        "<ul class='flags'>" + "".join(f"<li>{esc(f)}</li>" for f in flags) + "</ul>"
        if flags
        else "<ul class='flags'><li class='ok'>no flag</li></ul>"
    )
    comp = res.get("comparison_resolution")
    verification = ""
    if comp:
        g = res["gamma"]["global"]
        verification = (
            f"<p><b>Planned versus delivered:</b> {esc(comp['description'])}; gamma "
            f"{_gamma_criteria(g)} {g['pass_rate_percent']:.1f} % pass.</p>"
        )
    body = (
        _SUMMARY_STYLE
        + f"<p><b>Patient:</b> {who or '-'} &nbsp; <b>Administration:</b> {adm}</p>"
        + f"<table class='summary'>{head}{''.join(rows)}</table>"
        + (f"<p><b>Lesions</b> (mean dose, Δ vs plan): {', '.join(lesions)}</p>" if lesions else "")
        + "<p class='note'>Mean dose: the dose map rescaled to the partial-volume-corrected "
        "structure TIA; the DVHs below are of that same distribution. Limits from the tissue "
        "table (sources in docs/planning-rlt.md) are cumulative over all cycles.</p>"
        + verification
        + f"<h3>Flags ({len(flags)})</h3>"
        + flag_html
    )
    return Section("Summary", "failed" if flags else "ok", body)


def _gamma_criteria(g: dict) -> str:
    p = g.get("parameters", {})
    kind = "local" if p.get("local") else "global"
    return f"{p.get('dose_percent', '?')} %/{p.get('dta_mm', '?')} mm {kind}"


# ------------------------------------------------------------------------------------------
# study and registration


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


def registration_rows(res: dict) -> list[list[str]]:
    """One row per time point: name, time, transform, rotation (°), translation (mm), body
    centroid residual before → after (mm), body Dice before → after, mutual information
    before → after, status (``reference``, ``ok`` or ``CHECK: <warnings>``)."""
    rows = []
    for i, reg in enumerate(res["registration"]):
        tp = res["time_points"][i]
        if reg is None:
            rows.append([tp["name"], f"{tp['time_h']:.1f}", "reference", *["-"] * 5, "reference"])
            continue
        q = reg.get("quality", {})
        rigid = reg.get("rigid") or {}
        t = rigid.get("translation_mm")

        def pair(a, b, digits=3, q=q):
            return f"{_f(q.get(a), digits)} → {_f(q.get(b), digits)}"

        warnings = reg.get("warnings", [])
        rows.append(
            [
                tp["name"],
                f"{tp['time_h']:.1f}",
                "rigid + B-spline" if reg.get("bspline") else "rigid",
                _f(rigid.get("rotation_angle_deg"), 2),
                _f(float(np.linalg.norm(t)), 2) if t else "-",
                pair("body_centroid_residual_before_mm", "body_centroid_residual_after_mm", 2),
                pair("body_dice_before", "body_dice_after"),
                pair("mutual_information_before", "mutual_information_after"),
                ("CHECK: " + "; ".join(warnings)) if warnings else "ok",
            ]
        )
    return rows


def _registration_section(res: dict) -> Section:
    rows = registration_rows(res)
    failed = any(r[-1].startswith("CHECK") for r in rows)
    head = [
        "time point",
        "time h",
        "transform",
        "rotation °",
        "|translation| mm",
        "body-centroid residual mm (before → after)",
        "body Dice (before → after)",
        "mutual information (before → after)",
        "status",
    ]
    note = (
        "<p class='note'>CT-to-CT registration onto the reference session. Residual: distance "
        "of the body centroids after mapping (a landmark that needs no annotation); thresholds "
        "and method in docs/registration.md.</p>"
    )
    return Section(
        "Registration quality", "failed" if failed else "ok", table(head, rows, left=3) + note
    )


# ------------------------------------------------------------------------------------------
# figures


def _axial_panels(result, dose: np.ndarray, spacing, quantity: str):
    from ..report.charts import ImagePanel

    ct_a = None
    if result.reference_ct is not None:
        ct = sitk.Resample(
            result.reference_ct, result.dose_Gy, sitk.Transform(), sitk.sitkLinear, -1000.0
        )
        ct_a = sitk.GetArrayViewFromImage(ct)
    slices = {int(np.argmax(dose.reshape(dose.shape[0], -1).max(axis=1))): "hottest slice"}
    for name in SLICE_STRUCTURES:
        if name in result.masks:
            m = sitk.GetArrayViewFromImage(result.masks[name])
            ks = np.nonzero(m.any(axis=(1, 2)))[0]
            if ks.size:
                slices.setdefault(int(ks[ks.size // 2]), name)
    sx, sy, _ = spacing
    # crop to the body of the shown slices (CT above -500 HU, else any dose), 2 voxels margin
    inside = np.zeros(dose.shape[1:], dtype=bool)
    for k in slices:
        inside |= (np.asarray(ct_a[k]) > -500.0) if ct_a is not None else (dose[k] > 0)
    js, is_ = np.nonzero(inside) if inside.any() else np.nonzero(np.ones_like(inside))
    j0, j1 = max(int(js.min()) - 2, 0), min(int(js.max()) + 3, dose.shape[1])
    i0, i1 = max(int(is_.min()) - 2, 0), min(int(is_.max()) + 3, dose.shape[2])
    panels = []
    for k, why in slices.items():
        panels.append(
            ImagePanel(
                title=f"axial slice {k} ({why})",
                dose_Gy=np.asarray(dose[k, j0:j1, i0:i1]),
                extent_mm=(i0 * sx, i1 * sx, j1 * sy, j0 * sy),
                background=None if ct_a is None else np.asarray(ct_a[k, j0:j1, i0:i1], dtype=float),
            )
        )
    return panels


def _mip_panel(volume: np.ndarray, spacing, title: str):
    from ..report.charts import ImagePanel

    sx, _, sz = spacing
    nz, _, nx = volume.shape
    mip = np.asarray(volume, dtype=float).max(axis=1)[::-1, :]  # superior at the top
    return ImagePanel(
        title=title, dose_Gy=mip, extent_mm=(0.0, nx * sx, 0.0, nz * sz), isodose=False
    )


def _images_section(result, progress: ProgressCallback | None = None) -> Section:
    from ..report.charts import dose_panels_svg

    dose = sitk.GetArrayViewFromImage(result.dose_Gy)
    bed = sitk.GetArrayViewFromImage(result.bed_Gy)
    spacing = result.dose_Gy.GetSpacing()
    axial = dose_panels_svg(_axial_panels(result, dose, spacing, "dose"), quantity="absorbed dose")
    report(progress, 0.5, "report: dose MIP")
    dose_mip = dose_panels_svg(
        [_mip_panel(dose, spacing, "absorbed dose MIP")], quantity="absorbed dose", columns=1
    )
    report(progress, 0.75, "report: BED MIP")
    bed_mip = dose_panels_svg([_mip_panel(bed, spacing, "BED MIP")], quantity="BED", columns=1)
    figs = [
        "<h3>Absorbed dose on the CT (axial, radiological view: patient left on the right)</h3>",
        axial,
        "<h3>Maximum-intensity projections (anterior view)</h3>",
        "<div style='display:flex;flex-wrap:wrap;gap:1em'>",
        dose_mip,
        bed_mip,
        "</div>",
        "<p class='note'>The images are the dose and BED maps as computed (they carry the "
        "SPECT resolution); structure doses are in the tables. Isodose lines at 10/25/50/75/90 % "
        "of the 99.9th percentile dose.</p>",
    ]
    return Section("Dose and BED images", "ok", "".join(figs))


def _tac_section(result, progress: ProgressCallback | None = None) -> Section:
    from ..report.charts import TacPanel, tac_small_multiples_svg

    parts = []
    for number, group in enumerate(("organ", "lesion")):
        report(progress, 0.5 * number, f"report: time-activity curves of the {group}s")
        panels = []
        for name, curve in result.kinetics.items():
            s = result.results["structures"].get(name)
            if s is None or s["category"] != group:
                continue
            t = np.asarray(curve["times_h"], float)
            a = np.asarray(curve["activities_MBq"], float)
            fit = curve.get("fit")
            sigma = getattr(fit, "sigma_MBq", None) if fit is not None else None
            kwargs = {}
            if fit is not None:
                grid = np.linspace(0.0, max(float(t.max()) * 1.15, 1.0), 120)
                y = np.asarray(fit.curve_MBq(grid), dtype=float)
                rel = s["tia_uncertainty_MBq_h"] / s["tia_MBq_h"] if s["tia_MBq_h"] > 0 else 0.0
                kwargs = dict(
                    fit_times_h=grid,
                    fit_MBq=y,
                    band_low_MBq=np.maximum(y * (1 - 1.96 * rel), 0.0),
                    band_high_MBq=y * (1 + 1.96 * rel),
                    model=fit.model,
                )
            panels.append(
                TacPanel(
                    name=name,
                    times_h=t,
                    activities_MBq=a,
                    errors_MBq=None if sigma is None else np.asarray(sigma, float),
                    **kwargs,
                )
            )
        if panels:
            parts.append(f"<h3>{group.capitalize()}s</h3>")
            parts.append(tac_small_multiples_svg(panels, columns=4))
    note = (
        "<p class='note'>Points: structure activity (partial-volume corrected when a PSF was "
        "given) with its standard uncertainty as used in the fit; line: fitted model; band: "
        "fitted curve ×(1 ± 1.96 u<sub>rel</sub>), u<sub>rel</sub> the relative standard "
        "uncertainty of the structure TIA (an approximate 95 % band). Activity axes are "
        "logarithmic where the data span a decade or more.</p>"
    )
    return Section("Time-activity curves", "ok", "".join(parts) + note)


def _dvh_section(result) -> Section:
    from ..report.charts import DvhCurve, dvh_chart_svg

    charts = []
    for group in ("organ", "lesion"):
        curves = []
        for name, dvh in result.dvhs.items():
            if result.results["structures"].get(name, {}).get("category") != group:
                continue
            top = float(dvh._doses.max()) if dvh._doses.size else 1.0
            axis = np.linspace(0.0, 1.02 * top, 200)
            curves.append(DvhCurve(name, axis, dvh.volume_percent_at(axis)))
        if curves:
            charts.append(dvh_chart_svg(curves, title=f"Cumulative DVH, {group}s (mass-weighted)"))
    note = (
        "<p class='note'>Each DVH is of the structure's delivered dose distribution: the dose "
        "map inside the structure rescaled to the partial-volume-corrected structure TIA, so "
        "its mean is the structure mean dose of the tables. Mass-weighted on fractional "
        "occupancy.</p>"
    )
    return Section("Dose-volume histograms", "ok", "".join(charts) + note)


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
    head += ["D98 Gy", "D50 Gy", "D2 Gy", "PV scale"]
    note = (
        "<p class='note'>One dose per structure: mean dose and D98/D50/D2 come from the same "
        "distribution, the dose map inside the structure multiplied by the PV scale (structure "
        "TIA / map TIA in the structure; about 1 without partial-volume correction).</p>"
    )
    return Section("Dose and BED per structure", "ok", table(head, rows, left=2) + note)


# ------------------------------------------------------------------------------------------
# planned versus delivered


def _plan_section(result) -> Section:
    res = result.results
    rows = res["plan_comparison"]
    parts = []
    comp = res.get("comparison_resolution")
    if comp:
        raw = comp["mode"] == "raw"
        parts.append(
            f"<p><b>Comparison mode: {esc(comp['label'])}.</b> {esc(comp['description'])}."
            + (
                " <b>RAW: differences include the SPECT resolution, not only the delivery.</b>"
                if raw
                else ""
            )
            + "</p>"
        )
    if rows:
        parts.append("<h3>Structure doses, plan versus delivered</h3>")
        parts.append(
            table(
                [
                    "structure",
                    "planned Gy",
                    "planned at given activity Gy",
                    "delivered Gy",
                    "diff %",
                    "tolerance %",
                    "within 2u",
                    "flag",
                ],
                [
                    [
                        r["structure"],
                        _f(r["planned_Gy"]),
                        _f(r["planned_at_given_activity_Gy"]),
                        f"{_f(r['delivered_Gy'])} ± {_f(r['delivered_uncertainty_Gy'], 2)}",
                        _f(r["difference_percent"]),
                        _f(r.get("tolerance_percent")),
                        "yes" if r["within_uncertainty"] else "no",
                        "DEVIATES" if r["flag"] else "",
                    ]
                    for r in rows
                ],
            )
        )
    if res.get("gamma"):
        parts.append("<h3>3D gamma (planned map as reference)</h3>")
        parts.append(
            table(
                ["kind", "criteria", "cutoff %", "pass rate %", "mean γ", "γ 95th pct", "points"],
                [
                    [
                        kind,
                        _gamma_criteria(g),
                        _f(g["parameters"].get("cutoff_percent")),
                        _f(g["pass_rate_percent"], 4),
                        _f(g["gamma_mean"]),
                        _f(g["gamma_p95"]),
                        g["evaluated_points"],
                    ]
                    for kind, g in res["gamma"].items()
                ],
            )
        )
        parts.append(_dvh_comparison_html(result))
    if not parts:
        return Section("Planned versus delivered", "skipped", "<p>No plan given.</p>")
    failed = any(r["flag"] for r in rows) or bool(
        (res.get("tolerance_table") or {}).get("deviations")
    )
    return Section("Planned versus delivered", "failed" if failed else "ok", "".join(parts))


def _dvh_comparison_html(result) -> str:
    """DVH metrics planned versus delivered, a figure of both curves, and the tolerance
    table (planned dose map)."""
    from ..report.charts import PALETTE, DvhCurve, dvh_chart_svg

    res = result.results
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
        + [_f(c["max_volume_difference_percent"]), esc(c.get("planned_level_source", ""))]
        for name, c in comparison.items()
    ]
    html = "<h3>DVH, planned → delivered (same masks, mass-weighted, comparison mode above)</h3>"
    html += table(
        [
            "structure",
            "mean Gy",
            "D98 Gy",
            "D50 Gy",
            "D2 Gy",
            "largest curve gap (% points, reported)",
            "planned level",
        ],
        rows,
    )
    figures = []
    shown = [
        n
        for n in ("kidney_left", "liver", "spleen", "parotid_left", "lesion_01", "lesion_03")
        if n in comparison
    ]
    for name in shown:
        curves = []
        planned = comparison[name].get("planned_dvh")
        if planned:
            curves.append(
                DvhCurve(
                    "planned",
                    planned["dose_Gy"],
                    planned["volume_percent"],
                    dashed=True,
                    colour=PALETTE[0],
                )
            )
        dvh = result.dvhs.get(name)
        if dvh is not None:
            top = float(dvh._doses.max()) if dvh._doses.size else 1.0
            axis = np.linspace(0.0, 1.02 * top, 200)
            curves.append(
                DvhCurve("delivered", axis, dvh.volume_percent_at(axis), colour=PALETTE[1])
            )
        if curves:
            figures.append(
                dvh_chart_svg(
                    curves,
                    title=name,
                    y_label="mass ≥ dose (%)",
                    width_in=3.4,
                    height_in=2.6,
                    legend_inside=True,
                )
            )
    if figures:
        html += (
            "<h4>Planned (dashed) and delivered (solid) DVHs, comparison mode above</h4>"
            "<div style='display:flex;flex-wrap:wrap;gap:.5em'>" + "".join(figures) + "</div>"
        )
    if tolerances:
        failed = [r for r in tolerances["rows"] if r["passed"] is False]
        html += f"<h3>Tolerance table: {len(failed)} check(s) outside tolerance</h3>"
        policy = (tolerances.get("policy") or {}).get("description")
        html += (
            f"<p class='note'>Flag policy: {esc(policy)}; tolerances and their sources there.</p>"
            if policy
            else "<p class='note'>Tolerances and their sources: docs/verification.md.</p>"
        )
        html += table(
            ["check", "structure", "value", "tolerance", "unit", "passed"],
            [
                [
                    esc(r["check"]),
                    esc(r.get("structure") or ""),
                    _f(r["value"]),
                    _f(r["tolerance"]),
                    esc(r["unit"]),
                    {True: "yes", False: "NO", None: "reported"}[r["passed"]],
                ]
                for r in (failed or [r for r in tolerances["rows"] if r["passed"] is not None])
            ],
        )
    return html


def write_report(
    result,
    path: Path,
    *,
    pdf_converter: str | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Render the report of a :class:`.dosimetry.DosimetryResult` to ``path`` (atomically).

    With ``pdf_converter`` (a name from :func:`theranostics.report.pdf.available_converter`)
    the PDF is written next to it (``path`` with ``.pdf``): the same HTML with each figure as
    a 150-dpi PNG of the same printed size instead of the SVG (a converter draws the SVG's
    thousands of elements in seconds, the PNG in milliseconds; the HTML keeps the vector
    figures). ``progress`` is called before each section's figures and each PDF step.
    """
    from ..report.charts import collect_png_twins

    path = Path(path)
    res = result.results
    prov = res["provenance"]
    figure_steps = (
        ("dose and BED images", _images_section),
        ("time-activity curves", _tac_section),
        ("DVHs", _dvh_section),
        ("planned versus delivered", _plan_section),
    )
    share = 0.6 if pdf_converter else 1.0  # of the progress range: the HTML, then the PDF
    with collect_png_twins() as figures:
        drawn = {}
        for number, (what, make) in enumerate(figure_steps):
            step = scaled(progress, share * number / 4, share * (number + 1) / 4)
            report(step, 0.0, f"report: {what}")
            drawn[what] = make(result, step) if make in _STEPPED else make(result)
    sections = [
        _summary_section(res),
        _study_section(res),
        _registration_section(res),
        drawn["dose and BED images"],
        drawn["time-activity curves"],
        drawn["DVHs"],
        _dose_table(res),
        drawn["planned versus delivered"],
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
    document = HtmlReport("Post-therapy dosimetry", intro, sections)
    document.write(path)
    if pdf_converter:
        _write_pdf(document.render(), figures, path, pdf_converter, scaled(progress, share, 1.0))
    report(progress, 1.0, "report written")
    return path


_STEPPED = (_images_section, _tac_section)  # sections that report progress per figure


def _write_pdf(html_text: str, figures, path: Path, converter: str, progress) -> Path:
    """The PDF of a report (``path`` with ``.pdf``) from its HTML with PNG figures."""
    from ..report.charts import png_twins
    from ..report.pdf import html_to_pdf

    for svg, img in png_twins(figures, progress=scaled(progress, 0.0, 0.4)).items():
        html_text = html_text.replace(svg, img)
    printed = path.with_name(f".print-{path.name}")
    try:
        printed.write_text(html_text, encoding="utf-8")
        return html_to_pdf(
            printed,
            path.with_suffix(".pdf"),
            converter=converter,
            progress=scaled(progress, 0.4, 1),
        )
    finally:
        printed.unlink(missing_ok=True)
