"""Figures of a SIRT plan (the worked example of ``docs/planning-sirt.md``), PNG without a
plotting library (:mod:`theranostics.report`).

Run ``python -m theranostics.planning.sirt_figures STUDY_DIR OUT_DIR`` to plan the real
Siemens MAA study (Tumor, Lung, rest-of-body fallback, tumour target 200 Gy) and write
``planning-sirt-maa-mip.png`` (anterior MIP of the MAA counts), ``planning-sirt-dose.png``
(axial CT slice through the tumour with the predicted 90Y dose and isodose lines) and
``planning-sirt-example.json`` (the plan).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..report.images import mip_png
from ..report.overlay import dose_overlay_png


def write_figures(result, folder: str | Path, *, tumor: str = "Tumor") -> list[Path]:
    """Write the MIP and dose-overlay PNGs of a :class:`~.sirt_study.SirtStudyResult`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spect = result.spect
    counts = sitk.GetArrayFromImage(spect.image)
    mip = folder / "planning-sirt-maa-mip.png"
    mip.write_bytes(mip_png(counts, spect.spacing_mm))
    ct_on_spect = sitk.Resample(
        result.ct.image, spect.image, sitk.Transform(), sitk.sitkLinear, -1000
    )
    dose = sitk.GetArrayFromImage(result.dose.image)
    k = int(np.argmax(result.measured.masks[tumor].sum(axis=(1, 2))))
    png, _ = dose_overlay_png(
        sitk.GetArrayFromImage(ct_on_spect), dose, spect.spacing_mm, slice_index=k,
        ct_window_HU=(-1000.0, 400.0), dose_max_Gy=float(np.percentile(dose[dose > 0], 99.5)),
    )  # fmt: skip
    overlay = folder / "planning-sirt-dose.png"
    overlay.write_bytes(png)
    return [mip, overlay]


def main(argv: list[str] | None = None) -> int:
    """Plan the worked example and write its figures and plan JSON (module docstring)."""
    from .sirt import save_plan
    from .sirt_study import plan_sirt_study

    study, out = (argv or sys.argv[1:])[:2]
    result = plan_sirt_study(
        study, tumors=["Tumor"], lung="Lung", rest_of_body=True, target_tumor_Gy=200.0
    )
    paths = write_figures(result, out)
    paths.append(save_plan(result.plan, Path(out) / "planning-sirt-example.json"))
    print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
