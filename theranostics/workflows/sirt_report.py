"""The HTML report of ``theranostics sirt-dosimetry``: the dose map over the PET/SPECT, the
DVHs of the liver and tumours, the per-structure table, the time reference and constants, and
(when a predicted dose map was given) the predicted-versus-delivered comparison.

Figures are drawn with matplotlib (Agg backend, no display) and embedded as PNG data URIs,
so the report is one self-contained file. Slices are shown in the radiological convention
(patient's right on the left of an axial image, anterior up; superior up in coronal images),
after reorienting the volume to the LPS axes (:func:`SimpleITK.DICOMOrient`), so that images
with any direction matrix (e.g. a third axis pointing to −z) display the same way.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..report.html import HtmlReport, Section, esc, figure, table
from ..report.images import png_data_uri

#: Structures drawn in the DVH figure: these roles.
DVH_ROLES = ("liver", "tumor", "normal", "lung")
#: Doses below this fraction of the 99th percentile in the body are not coloured.
OVERLAY_THRESHOLD_FRACTION = 0.05
#: Margin around the structures of the slice figure, mm.
CROP_MARGIN_MM = 20.0


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return png_data_uri(buf.getvalue())


def _lps(image: sitk.Image) -> tuple[np.ndarray, tuple[float, float, float]]:
    oriented = sitk.DICOMOrient(image, "LPS")
    return sitk.GetArrayFromImage(oriented), oriented.GetSpacing()


def dose_overlay_figure(
    emission: sitk.Image,
    dose_Gy: sitk.Image,
    masks: dict[str, sitk.Image],
    *,
    focus: np.ndarray | None = None,
    title: str = "",
) -> str:
    """Axial, coronal and sagittal slices of the dose (colour, Gy) over the emission image
    (grey), with the outlines of ``masks``; slices through the dose-weighted centre of
    ``focus`` (a boolean LPS-oriented array) or of the whole dose. Returns a PNG data URI."""
    plt = _plt()
    pet, sp = _lps(emission)
    dose, _ = _lps(dose_Gy)
    outlines = {n: _lps(m)[0] > 0.5 for n, m in masks.items()}
    union = np.zeros(dose.shape, dtype=bool)
    for o in outlines.values():
        union |= o
    if union.any():  # zoom on the structures, with a margin of CROP_MARGIN_MM
        idx = np.argwhere(union)
        margin = [math.ceil(CROP_MARGIN_MM / s) for s in sp[::-1]]
        lo = np.maximum(idx.min(axis=0) - margin, 0)
        hi = np.minimum(idx.max(axis=0) + margin + 1, dose.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        pet, dose = pet[box], dose[box]
        outlines = {n: o[box] for n, o in outlines.items()}
        focus = focus[box] if focus is not None else None
    weight = dose * (focus if focus is not None and focus.any() else 1.0)
    if weight.sum() <= 0:
        weight = np.ones_like(dose)
    k, j, i = (
        round(float(np.sum(weight * g) / np.sum(weight)))
        for g in np.indices(dose.shape, sparse=True)
    )
    top = float(np.percentile(dose[dose > 0], 99.5)) if (dose > 0).any() else 1.0
    grey_top = float(np.percentile(pet, 99.5)) or 1.0
    views = [
        ("axial", pet[k], dose[k], {n: o[k] for n, o in outlines.items()}, sp[1] / sp[0], False),
        (
            "coronal",
            pet[:, j, :],
            dose[:, j, :],
            {n: o[:, j, :] for n, o in outlines.items()},
            sp[2] / sp[0],
            True,
        ),
        (
            "sagittal",
            pet[:, :, i],
            dose[:, :, i],
            {n: o[:, :, i] for n, o in outlines.items()},
            sp[2] / sp[1],
            True,
        ),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.5))
    colours = plt.get_cmap("tab10")
    image = None
    for ax, (name, g, d, lines, aspect, flip) in zip(axes, views, strict=True):
        origin = "lower" if flip else "upper"  # LPS: k increases to superior
        ax.imshow(g, cmap="gray_r", vmin=0, vmax=grey_top, aspect=aspect, origin=origin)
        shown = np.ma.masked_less(d, OVERLAY_THRESHOLD_FRACTION * top)
        image = ax.imshow(
            shown, cmap="jet", vmin=0, vmax=top, alpha=0.55, aspect=aspect, origin=origin
        )
        for n_index, (label, outline) in enumerate(lines.items()):
            if outline.any():
                ax.contour(
                    outline.astype(float),
                    levels=[0.5],
                    colors=[colours(n_index % 10)],
                    linewidths=0.8,
                    origin=origin,
                )
                ax.plot([], [], color=colours(n_index % 10), label=label)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label="absorbed dose (Gy)")
    if title:
        fig.suptitle(title)
    return _png(fig)


def dvh_figure(dvhs: dict, names: list[str], *, title: str = "", planned: dict | None = None):
    """Cumulative DVHs (percent of the structure's mass against Gy) of ``names``; with
    ``planned`` (name -> DVH) the predicted curves are drawn dashed. Returns a data URI."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = plt.get_cmap("tab10")
    top = 0.0
    for index, name in enumerate(names):
        dvh = dvhs[name]
        ax.plot(dvh.dose_Gy, dvh.volume_percent, color=colours(index % 10), label=name)
        top = max(top, float(dvh.metrics.get("D2_Gy", dvh.metrics["max_Gy"])))
        if planned and name in planned:
            p = planned[name]
            ax.plot(
                p.dose_Gy,
                p.volume_percent,
                color=colours(index % 10),
                linestyle="--",
                label=f"{name} (predicted)",
            )
    ax.set_xlim(0, max(top * 1.2, 1.0))
    ax.set_ylim(0, 101)
    ax.set_xlabel("absorbed dose (Gy)")
    ax.set_ylabel("mass receiving at least this dose (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    if title:
        ax.set_title(title)
    return _png(fig)


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


STRUCTURE_COLUMNS = (
    ("role", "role"),
    ("volume_mL", "volume mL"),
    ("mass_g", "mass g"),
    ("activity_MBq", "activity MBq"),
    ("mean_dose_Gy", "mean Gy"),
    ("D90_Gy", "D90 Gy"),
    ("D70_Gy", "D70 Gy"),
    ("D50_Gy", "D50 Gy"),
    ("V100Gy_percent", "V100Gy %"),
    ("V150Gy_percent", "V150Gy %"),
    ("tumor_to_normal_ratio", "T/N"),
)


def structure_table_html(structures: dict) -> str:
    """The per-structure table (one row per segment, as named in the segmentation)."""
    headers = ["structure", *(title for _, title in STRUCTURE_COLUMNS)]
    rows = [
        [name, *(_fmt(entry.get(key)) for key, _ in STRUCTURE_COLUMNS)]
        for name, entry in structures.items()
    ]
    return table(headers, rows, left=2)


def _comparison_html(comparison) -> str:
    doc = comparison.to_json()
    rows = [
        [
            r["structure"],
            _fmt(r.get("planned_Gy")),
            _fmt(r.get("delivered_Gy")),
            _fmt(r.get("difference_Gy")),
            _fmt(r.get("relative_difference_percent"), 3),
            {True: "yes", False: "NO", None: "-"}[r.get("within_tolerance")],
        ]
        for r in doc["structures"]["rows"]
    ]
    parts = [
        f"<p>{esc(doc['registration']['description'])}</p>",
        table(
            ["structure", "predicted Gy", "delivered Gy", "difference Gy", "difference %", "ok"],
            rows,
        ),
    ]
    g = doc["gamma"]
    parts.append(
        f"<p>Gamma ({esc(g['parameters'].get('dose_percent'))} % / "
        f"{esc(g['parameters'].get('dta_mm'))} mm, global, cutoff "
        f"{esc(g['parameters'].get('cutoff_percent'))} %): pass rate "
        f"{g['pass_rate_percent']:.1f} % of {g['evaluated_points']} points, mean "
        f"{g['gamma_mean']:.2f}.</p>"
    )
    dvh_rows = [
        [
            name,
            _fmt(c["metrics"].get("mean_Gy", {}).get("difference")),
            _fmt(c["metrics"].get("D70_Gy", {}).get("difference")),
            _fmt(c["max_volume_difference_percent"], 3),
            _fmt(c["at_dose_Gy"]),
        ]
        for name, c in doc["dvhs"].items()
    ]
    parts.append(
        table(
            [
                "structure",
                "mean diff Gy",
                "D70 diff Gy",
                "max DVH gap (% points)",
                "at Gy",
            ],
            dvh_rows,
        )
    )
    deviations = doc["tolerance_table"]["deviations"]
    parts.append(f"<p>{deviations} check(s) outside tolerance (delivered - predicted).</p>")
    return "".join(parts)


def write_sirt_report(result, path: str | Path) -> Path:
    """Write the self-contained HTML report of a
    :class:`~theranostics.workflows.sirt_dosimetry.SirtDosimetryResult`."""
    res = result.results
    structures = res["structures"]
    roles = {n: e["role"] for n, e in structures.items()}
    tumours = [n for n, r in roles.items() if r == "tumor"]
    focus = None
    if tumours:
        focus = np.zeros(_lps(result.dose.image)[0].shape, dtype=bool)
        for n in tumours:
            focus |= _lps(result.masks.weights[n])[0] >= 0.5
    shown = {n: result.masks.weights[n] for n in structures if roles[n] in DVH_ROLES}
    overlay = dose_overlay_figure(
        result.image.image,
        result.dose.image,
        shown,
        focus=focus,
        title=f"{res['nuclide']} absorbed dose over the post-treatment image",
    )
    dvh_names = [n for n in structures if roles[n] in DVH_ROLES and n in result.dvhs]
    planned = result.comparison.planned_dvhs if result.comparison is not None else None
    dvh = dvh_figure(result.dvhs, dvh_names, title="DVHs (mass-weighted)", planned=planned)
    timing = res["timing"]
    intro = (
        f"<p>{esc(res['image'])} with structures {esc(res['structures_file'])}. Model: "
        f"{esc(res['model'])}. Dose: {esc(res['method_description'])}; local-deposition "
        f"constant {res['local_deposition_constant_Gy_kg_per_GBq']:.2f} Gy kg/GBq "
        f"({esc(res['local_deposition_constant_source'])}).</p>"
        f"<p><b>Time reference:</b> {esc(timing['mode'])} (decay-correction factor "
        f"{timing['decay_correction_factor']:.4f}; activity: {esc(timing['activity_rule'])}). "
        f"Masses: {esc(res['mass_rule'])}.</p>"
        f"<p>Activity in the field of view at implantation: "
        f"{res['total_activity_in_field_of_view_MBq']:.1f} MBq"
        + (
            f" ({100 * res['fraction_of_administered_in_field_of_view']:.1f} % of the "
            f"{res['administered_activity_MBq']:g} MBq administered)"
            if res.get("fraction_of_administered_in_field_of_view")
            else ""
        )
        + (
            f"; tumour-to-normal ratio {res['tumor_to_normal_ratio']:.2f}"
            if res.get("tumor_to_normal_ratio")
            else ""
        )
        + "</p>"
    )
    sections = [
        Section("Dose map", body_html=figure(overlay, "dose over the PET/SPECT")),
        Section("Dose-volume histograms", body_html=figure(dvh, "DVHs of liver and tumours")),
        Section("Structures", body_html=structure_table_html(structures)),
    ]
    if result.comparison is not None:
        sections.append(
            Section(
                "Predicted (MAA) versus delivered (90Y)",
                body_html=_comparison_html(result.comparison),
            )
        )
    sections.append(
        Section(
            "Notes",
            body_html="<ul>" + "".join(f"<li>{esc(n)}</li>" for n in res["notes"]) + "</ul>",
        )
    )
    return HtmlReport(
        title="Radioembolisation post-treatment dosimetry", intro_html=intro, sections=sections
    ).write(path)
