"""The end-to-end demo: generate the synthetic study once (cached), run every pipeline stage
that exists, and write a self-contained HTML report.

The demo is a list of :class:`Stage` objects in :data:`STAGES`. Each stage takes the shared
:class:`DemoContext` (paths, ground truth, results of earlier stages) and returns a report
:class:`~theranostics.report.Section`; a stage whose prerequisites are missing returns a
``skipped`` section instead of failing the demo. Later issues append their stages
(registration, kinetics, dose, segmentation, planning, verification) to :data:`STAGES`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .progress import ProgressCallback, report, scaled
from .report import HtmlReport, Section, mip_png, png_data_uri
from .report.html import esc, figure, table


@dataclass
class DemoContext:
    """What the stages share.

    Attributes:
        study_dir: the generated study (``dicom/``, ``truth/``).
        out_dir: the demo's output folder.
        config: the phantom configuration (a :class:`PhantomConfig`).
        truth: ``ground_truth.json`` once the study exists.
        results: per-stage outputs for later stages (``results["ingest"]`` ...).
    """

    study_dir: Path
    out_dir: Path
    config: object
    truth: dict | None = None
    results: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One pipeline stage of the demo: a name, a one-line purpose and its function."""

    name: str
    purpose: str
    run: Callable[[DemoContext, ProgressCallback | None], Section]


def cache_key(config) -> str:
    """Folder name of a cached study: preset, seed, size and generator version."""
    from .phantom.generate import GENERATOR_VERSION

    return f"{config.preset}-seed{config.seed}-{config.size}-v{GENERATOR_VERSION}"


# ----------------------------------------------------------------------------------------
# stage: generate (cached)
# ----------------------------------------------------------------------------------------
def stage_generate(ctx: DemoContext, progress: ProgressCallback | None) -> Section:
    from .phantom.generate import generate_study

    truth_file = ctx.study_dir / "truth" / "ground_truth.json"
    if truth_file.is_file():  # generate_study moves a complete study into place atomically
        ctx.truth = json.loads(truth_file.read_text())
        note = f"reused the cached study in {ctx.study_dir}"
    else:
        ctx.truth = generate_study(ctx.study_dir, ctx.config, progress=progress, overwrite=True)
        note = f"generated the study into {ctx.study_dir}"
    import SimpleITK as sitk

    truth = ctx.truth
    adm = truth["administration"]
    rows = [
        [
            name,
            r["category"],
            f"{r['volume_mL']:.1f}",
            f"{r['mass_g']:.1f}",
            f"{r['tia_MBq_h']:.0f}",
            f"{r['mean_dose_Gy']:.2f}",
            f"{r['mean_dose_Gy'] / adm['activity_MBq'] * 1000:.3f}",
        ]
        for name, r in truth["regions"].items()
    ]
    figures = []
    for tp in truth["time_points"]:
        image = sitk.ReadImage(str(ctx.study_dir / tp["files"]["truth_activity"]))
        png = mip_png(sitk.GetArrayFromImage(image), image.GetSpacing())
        figures.append(figure(png_data_uri(png), f"true activity, {tp['time_h']:g} h"))
    body = (
        f"<p>{esc(truth['preset']['description'])}; seed {truth['config']['seed']}, size "
        f"{esc(truth['config']['size'])}. Administered {adm['activity_MBq']:.0f} MBq "
        f"{esc(adm['radiopharmaceutical'])} at {esc(adm['datetime'])}.</p>"
        "<h3>Ground truth (anterior MIPs of the true activity, reference pose)</h3>"
        + "".join(figures)
        + "<h3>Regions</h3>"
        + table(
            ["structure", "category", "volume mL", "mass g", "TIA MBq·h", "mean dose Gy", "Gy/GBq"],
            rows,
            left=2,
        )
        + f"<p class='note'>Dose model: {esc(truth['dose_model']['name'])}, "
        f"{truth['dose_model']['mean_energy_MeV_per_decay']} MeV per decay "
        f"({esc(truth['dose_model']['energy_source'])}).</p>"
    )
    return Section("Synthetic study (generate)", "ok", body, notes=[note])


# ----------------------------------------------------------------------------------------
# stage: ingest
# ----------------------------------------------------------------------------------------
def stage_ingest(ctx: DemoContext, progress: ProgressCallback | None) -> Section:
    try:
        from .io import read_image
        from .io.inspect import SUMMARY_COLUMNS, inspect_directory
        from .study import load_spect_study
    except ImportError as exc:  # pragma: no cover - ingest not installed
        return Section("Ingest", "skipped", "", notes=[f"ingest not available: {exc}"])
    dicom = ctx.study_dir / "dicom"
    report(progress, 0.0, "scanning DICOM")
    rows = inspect_directory(dicom)
    ctx.results["ingest"] = rows
    _atomic_json(ctx.out_dir / "series.json", rows)
    columns = [*SUMMARY_COLUMNS, ("problems", "Problems")]

    def cell(v):
        if isinstance(v, list):
            return (
                "; ".join(map(str, v))
                if v and isinstance(v[0], str)
                else "×".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
            )
        return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else v)

    table_html = table(
        [t for _, t in columns], [[cell(r.get(k)) for k, _ in columns] for r in rows], left=2
    )
    # the SPECT/CT sessions loaded once, as the dosimetry stage uses them (it takes the
    # loaded study instead of reading every series again); their SPECTs give the NM MIPs
    report(progress, 0.1, "loading the SPECT/CT sessions")
    loaded = load_spect_study(
        ctx.study_dir,
        calibration_cps_per_MBq=ctx.truth["config"]["calibration_cps_per_MBq"],
        progress=scaled(progress, 0.1, 0.8),
    )
    ctx.results["loaded_study"] = loaded
    spect_by_file = {
        Path(tp.spect.meta.source_files[0]).resolve(): tp.spect
        for tp in loaded.time_points
        if tp.spect.meta.source_files
    }
    figures = []
    emission = [r for r in rows if r.get("modality") in ("NM", "PT")]
    for n, row in enumerate(emission):
        report(progress, 0.8 + 0.2 * n / len(emission), f"{row['modality']} series")
        files = row.get("files") or []
        first = Path(files[0]) if isinstance(files, list) and files else None
        source = first if row["modality"] == "NM" and first else (first.parent if first else None)
        if source is None:
            continue
        image = spect_by_file.get(source.resolve()) or read_image(source)
        png = mip_png(image.array(), image.spacing_mm)
        when = row.get("acquisition_datetime") or ""
        figures.append(
            figure(png_data_uri(png), f"{row['modality']} {when} ({image.meta.quantity.units})")
        )
    body = (
        "<p>The study read back through <code>theranostics.io</code> "
        "(<code>theranostics inspect</code>); the SPECT/CT sessions loaded once for the "
        "dosimetry (SPECT MIPs in Bq/mL after the calibration).</p>"
        + table_html
        + "<h3>Maximum-intensity projections of the emission series as read</h3>"
        + "".join(figures)
    )
    return Section("Ingest", "ok", body)


def _atomic_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------
# stage: dosimetry and verification (issue 8)
# ----------------------------------------------------------------------------------------
def _truth_dose_map(ctx: DemoContext, path: Path, masks=None) -> Path:
    """The true dose map on the reference SPECT grid: each region's true TIA spread uniformly
    over its fractional occupancy, voxel S-value kernel (electrons and photons) with the CT
    densities (Gy) — the noise-free, resolution-free counterpart of the delivered map.
    ``masks``: the truth labels already on that grid (a MaskSet), else read here."""
    import numpy as np
    import SimpleITK as sitk

    from .dose.compute import compute_dose
    from .io import read_image
    from .io.masks import load_masks

    truth = ctx.truth
    if masks is None:
        tp0 = truth["time_points"][0]["files"]["truth_activity"]
        masks = load_masks(
            ctx.study_dir / "truth" / "labels.nrrd", sitk.ReadImage(str(ctx.study_dir / tp0))
        )
    grid = next(iter(masks.weights.values()))
    voxel_mL = float(np.prod(grid.GetSpacing())) / 1000.0
    tia = np.zeros(sitk.GetArrayViewFromImage(grid).shape)
    for name, weight in masks.weights.items():
        region = truth["regions"][name]
        per_mL = region["tia_MBq_h"] / masks.volumes_mL[name]
        tia += sitk.GetArrayViewFromImage(weight) * per_mL * voxel_mL
    image = sitk.GetImageFromArray(tia.astype(np.float32))
    image.CopyInformation(grid)
    ct = read_image(ctx.study_dir / truth["time_points"][0]["files"]["ct"]).image
    dose = compute_dose(image, truth["administration"]["nuclide"], method="kernel", ct=ct)
    tmp = path.with_name("tmp_" + path.name)
    sitk.WriteImage(dose, str(tmp), useCompression=True)
    os.replace(tmp, path)
    return path


def stage_dosimetry(ctx: DemoContext, progress: ProgressCallback | None) -> Section:
    """Post-therapy dosimetry with the true structure masks, verified against a plan whose
    planned doses are the ground-truth doses (the plan a perfect planning step would make):
    photon-inclusive truth (:func:`theranostics.phantom.truth.photon_inclusive_mean_doses`),
    as the delivered doses come from the voxel S-value kernel."""
    from .phantom.truth import photon_inclusive_mean_doses
    from .workflows.dosimetry import run_dosimetry

    truth = ctx.truth
    true_dose = photon_inclusive_mean_doses(ctx.study_dir)
    activity_GBq = truth["administration"]["activity_MBq"] / 1000.0
    plan = {
        "schema": "theranostics-plan-rlt/1",
        "patient_id": truth["patient"]["patient_id"],
        "structures": [
            {
                "name": name,
                "absorbed_dose_per_cycle_Gy": true_dose[name],
                "dose_per_activity_Gy_per_GBq": true_dose[name] / activity_GBq,
            }
            for name, r in truth["regions"].items()
            if r["category"] in ("organ", "lesion")
        ],
    }
    plan_path = ctx.out_dir / "truth_plan.json"
    _atomic_json(plan_path, plan)
    # the study as the ingest stage loaded it, and the truth masks put once on its reference
    # SPECT grid for both the truth dose map and the dosimetry (each read once per demo)
    study = ctx.results.get("loaded_study") or ctx.study_dir
    labels = ctx.study_dir / "truth" / "labels.nrrd"
    masks = labels
    if not isinstance(study, Path):
        from .io.masks import load_masks

        report(progress, 0.0, "truth masks on the reference SPECT grid")
        masks = load_masks(labels, study.time_points[0].spect.image)
    report(progress, 0.01, "truth dose map")
    planned_dose = _truth_dose_map(
        ctx, ctx.out_dir / "truth_dose_Gy.nrrd", None if masks is labels else masks
    )
    out = ctx.out_dir / "dosimetry"
    result = run_dosimetry(
        study,
        masks,
        out_dir=out,
        calibration_cps_per_MBq=truth["config"]["calibration_cps_per_MBq"],
        plan_path=plan_path,
        planned_dose_path=planned_dose,
        method="kernel",
        psf_fwhm_mm=truth["config"]["spect_fwhm_mm"],
        progress=progress,
    )
    ctx.results["dosimetry"] = result.results
    res = result.results
    g, gl = res["gamma"]["global"], res["gamma"]["local"]
    table_doc = res["tolerance_table"]
    rows = []
    for r in result.comparison:
        s = res["structures"][r["structure"]]
        rows.append(
            [
                r["structure"],
                f"{r['planned_Gy']:.3g}",
                f"{r['delivered_Gy']:.3g} ± {r['delivered_uncertainty_Gy']:.2g}",
                f"{s['dvh']['mean_Gy']:.3g}",
                f"{r['difference_percent']:+.1f}",
                f"{r['tolerance_percent']:g}",
                "yes" if r["within_uncertainty"] else "no",
                "DEVIATES" if r["flag"] else "",
            ]
        )
    raw = _raw_gamma(planned_dose, out / "dose_Gy.nrrd", res["provenance"]["parameters"])
    flagged = table_doc.get("flagged_structures", {})
    body = (
        "<p>Full dosimetry report: <a href='dosimetry/report.html'>dosimetry/report.html</a> "
        "(results.json, RT Dose, SEG, SR and NRRD maps in <code>dosimetry/</code>). Voxel "
        "S-value kernel (electrons and photons) against the photon-inclusive truth, GTM "
        "partial-volume correction with the 12 mm PSF. The delivered mean and the mean of the "
        "structure's DVH are one dose (the map rescaled to the corrected structure TIA).</p>"
        + table(
            [
                "structure",
                "truth (plan) Gy",
                "delivered Gy",
                "DVH mean Gy",
                "diff %",
                "tolerance %",
                "within 2u",
                "flag",
            ],
            rows,
            left=1,
        )
        + f"<p>Comparison with the truth dose map (kernel dose of the true TIA, uniform per "
        f"region): {esc(res['comparison_resolution']['description'])}. 3D gamma 3 %/3 mm "
        f"(10 % cutoff): global pass rate {g['pass_rate_percent']:.1f} % of "
        f"{g['evaluated_points']} points (mean γ {g['gamma_mean']:.2f}), local "
        f"{gl['pass_rate_percent']:.1f} %. Tolerance table: {table_doc['deviations']} "
        f"check(s) outside tolerance"
        + (
            " (" + esc("; ".join(f"{k}: {', '.join(v)}" for k, v in flagged.items())) + ")"
            if flagged
            else ""
        )
        + ".</p>"
        + (
            f"<p class='note'>For contrast, the RAW comparison (sharp truth map against the "
            f"SPECT-based map, resolution not matched) passes global gamma "
            f"{raw:.1f} %: it measures the camera's resolution, not the delivery.</p>"
            if raw is not None
            else ""
        )
    )
    return Section("Dosimetry and verification", "ok", body, notes=result.results["notes"][:5])


def _raw_gamma(planned_path: Path, delivered_path: Path, parameters: dict) -> float | None:
    """Global gamma pass rate (%) of the delivered map against the planned map as they are
    (the RAW comparison), with the run's criteria; ``None`` when a file is missing."""
    import SimpleITK as sitk

    from .verify.gamma import gamma_index

    if not (Path(planned_path).is_file() and Path(delivered_path).is_file()):
        return None
    dose_percent, dta_mm, cutoff = parameters.get("gamma_criteria") or (3.0, 3.0, 10.0)
    result = gamma_index(
        sitk.ReadImage(str(planned_path), sitk.sitkFloat64),
        sitk.ReadImage(str(delivered_path), sitk.sitkFloat64),
        dose_percent=dose_percent,
        dta_mm=dta_mm,
        cutoff_percent=cutoff,
    )
    return float(result.pass_rate_percent)


#: The pipeline, in order. Later issues append their stages here.
STAGES: list[Stage] = [
    Stage("generate", "synthetic study with exact ground truth (cached)", stage_generate),
    Stage(
        "ingest", "scan and read the DICOM series with their quantitative metadata", stage_ingest
    ),
    Stage(
        "dosimetry",
        "post-therapy dosimetry (dose, BED, DVH, DICOM, report) and plan verification",
        stage_dosimetry,
    ),
]

#: Workflows of the toolkit the demo does not run (the dosimetry stage already covers
#: registration, kinetics, dose, BED, DVHs and verification); listed with their commands.
OTHER_WORKFLOWS = [
    ("lesion segmentation and response", "theranostics lesions / theranostics response"),
    ("177Lu activity planning", "theranostics plan-rlt (docs/planning-rlt.md)"),
    ("90Y radioembolization planning", "theranostics plan-sirt (docs/planning-sirt.md)"),
    ("single-structure kinetics", "theranostics tac / theranostics tia"),
]


def run_demo(
    out_dir: str | Path,
    cache_dir: str | Path,
    config=None,
    *,
    progress: ProgressCallback | None = None,
    stages: list[Stage] | None = None,
) -> Path:
    """Run the demo; returns the path of ``report.html`` in ``out_dir``.

    A failing stage is reported as ``failed`` with its error and the remaining stages still
    run; the generate stage must succeed (everything else depends on it).
    """
    from .phantom.generate import PhantomConfig

    config = config or PhantomConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(Path(cache_dir) / cache_key(config), out_dir, config)
    stages = list(STAGES if stages is None else stages)
    # generation dominates the first run: give it most of the bar
    weights = [6.0 if s.name == "generate" else 1.0 for s in stages]
    edges = [sum(weights[:i]) / sum(weights) for i in range(len(weights) + 1)]
    sections = []
    timings = {}
    for i, stage in enumerate(stages):
        sub = scaled(progress, edges[i], edges[i + 1])
        report(sub, 0.0, stage.name)
        started = time.perf_counter()
        try:
            section = stage.run(ctx, sub)
        except Exception as exc:
            if stage.name == "generate":
                raise
            section = Section(stage.name, "failed", f"<pre>{esc(repr(exc))}</pre>")
        section.seconds = time.perf_counter() - started
        timings[stage.name] = {"status": section.status, "seconds": round(section.seconds, 3)}
        sections.append(section)
    sections.append(
        Section(
            "Also in the toolkit (not run by this demo)",
            "skipped",
            table(["workflow", "command"], [list(r) for r in OTHER_WORKFLOWS], left=2),
        )
    )
    intro = (
        "<p class='note'>Every stage of the Theranostics pipeline that exists, run on the "
        "synthetic patient study whose truth is known exactly. This file is self-contained "
        f"(images inline). Study: <code>{esc(ctx.study_dir)}</code>.</p>"
        + table(
            ["stage", "status", "seconds"],
            [[k, v["status"], v["seconds"]] for k, v in timings.items()],
            left=2,
        )
    )
    html_report = HtmlReport("Theranostics demo", intro, sections)
    path = html_report.write(out_dir / "report.html")
    _atomic_json(
        out_dir / "demo.json",
        {"study_dir": str(ctx.study_dir), "config": config.to_json(), "stages": timings},
    )
    report(progress, 1.0, "report written")
    return path
