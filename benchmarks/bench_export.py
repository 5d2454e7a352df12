"""The dosimetry's DICOM writers against a plain write of the same content, in one run.

Content as :func:`theranostics.workflows.dosimetry.run_dosimetry` writes it on the standard
study (``--quick``: the small one): a dose map on the reference SPECT grid (the kernel dose of
the first session's true activity), the 22 structure masks on that grid, the reference CT's
files; the SR holds five measurements per structure.

- ``rtdose``: :func:`theranostics.io.rtdose.write_rtdose` against ``pydicom.dcmwrite`` of the
  same dataset (read back from our file): the serialisation floor of that content;
- ``seg``: :func:`theranostics.io.seg_export.write_seg` (``grid="masks"``, as the dosimetry
  writes it) against a plain ``highdicom.seg.Segmentation`` of the same masks, geometry and
  minimal segment descriptions, saved with ``save_as``; and the previous way (masks
  resampled onto the 2.4 mm CT grid, ``resample=True``; ``--quick`` skips it);
- ``sr``: :func:`theranostics.io.sr_export.write_measurement_sr` against ``pydicom.dcmwrite``
  of the same SR dataset.

Every ratio compares two timings of this run. The first highdicom call of a process loads
highdicom's IOD tables (~1 s); it is paid in a warm-up write before the timings.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

WHEN = datetime(2024, 5, 1, 12, 0, 0)


def _timed(function, *args, **kwargs):
    w, c = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    return value, round(time.perf_counter() - w, 3), round(time.process_time() - c, 3)


def _content(size: str):
    import SimpleITK as sitk

    from theranostics.dose.compute import compute_dose
    from theranostics.io.masks import load_masks

    from .bench_progress import _study

    study = _study(size)
    activity = sitk.ReadImage(str(study / "truth" / "activity_004h.nrrd"), sitk.sitkFloat32)
    dose = compute_dose(activity * 60.0, "Lu-177", method="kernel")
    masks = load_masks(study / "truth" / "labels.nrrd", activity).masks
    ct_files = sorted((study / "dicom" / "spect_004h" / "CT").glob("*.dcm"))
    return dose, dict(masks), ct_files


def _plain_seg(masks, ct_files, path: Path) -> None:
    """A plain highdicom SEG of the same masks on their own grid."""
    import highdicom as hd
    import numpy as np
    import pydicom
    import SimpleITK as sitk

    from theranostics.io.dicom_images import slice_stack_geometry

    headers = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in ct_files]
    geom = slice_stack_geometry(headers, [str(f) for f in ct_files])
    first = next(iter(masks.values()))
    d = np.array(first.GetDirection()).reshape(3, 3)
    sp = first.GetSpacing()
    patient = hd.CoordinateSystemNames.PATIENT
    pixels = np.stack([sitk.GetArrayViewFromImage(m) for m in masks.values()], axis=-1)
    seg = hd.seg.Segmentation(
        source_images=[headers[i] for i in geom.order],
        pixel_array=pixels.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[
            hd.seg.SegmentDescription(
                segment_number=n + 1,
                segment_label=name,
                segmented_property_category=hd.sr.CodedConcept(
                    "91723000", "SCT", "Anatomical Structure"
                ),
                segmented_property_type=hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
                algorithm_type="MANUAL",
            )
            for n, name in enumerate(masks)
        ],
        series_instance_uid=hd.UID(),
        series_number=1,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="plain",
        manufacturer_model_name="plain",
        software_versions="0",
        device_serial_number="0",
        plane_positions=[
            hd.PlanePositionSequence(patient, first.TransformIndexToPhysicalPoint((0, 0, k)))
            for k in range(first.GetSize()[2])
        ],
        plane_orientation=hd.PlaneOrientationSequence(patient, [*d[:, 0], *d[:, 1]]),
        pixel_measures=hd.PixelMeasuresSequence(
            pixel_spacing=(sp[1], sp[0]), slice_thickness=sp[2], spacing_between_slices=sp[2]
        ),
        omit_empty_frames=True,
    )
    seg.save_as(path)


def _MB(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 2)


def _rewrite(path: Path, out: Path) -> None:
    import pydicom

    pydicom.dcmwrite(out, pydicom.dcmread(path), enforce_file_format=True)


def run(quick: bool = False) -> dict:
    """Time the writers and their plain counterparts (module docstring)."""
    from theranostics.io.rtdose import write_rtdose
    from theranostics.io.seg_export import write_seg
    from theranostics.io.sr_export import write_measurement_sr

    size = "small" if quick else "standard"
    dose, masks, ct_files = _content(size)
    results: dict = {"study": size, "segments": len(masks), "ct_slices": len(ct_files)}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        out = Path(tmp)
        _plain_seg(dict(list(masks.items())[:1]), ct_files, out / "warm.dcm")  # IOD tables
        path, wall, cpu = _timed(write_rtdose, out / "RD.dcm", dose, ct_files,
                                 content_datetime=WHEN)  # fmt: skip
        _, p_wall, p_cpu = _timed(_rewrite, path, out / "RD_plain.dcm")
        results["rtdose"] = {"ours_wall_s": wall, "ours_cpu_s": cpu, "plain_wall_s": p_wall,
                             "plain_cpu_s": p_cpu, "ratio_wall": round(wall / p_wall, 2),
                             "size_MB": round(path.stat().st_size / 1e6, 2)}  # fmt: skip
        seg, wall, cpu = _timed(write_seg, out / "SEG.dcm", masks, ct_files, grid="masks",
                                content_datetime=WHEN)  # fmt: skip
        _, p_wall, p_cpu = _timed(_plain_seg, masks, ct_files, out / "SEG_plain.dcm")
        results["seg"] = {"ours_wall_s": wall, "ours_cpu_s": cpu, "plain_highdicom_wall_s": p_wall,
                          "plain_highdicom_cpu_s": p_cpu, "ratio_wall": round(wall / p_wall, 2),
                          "size_MB": round(seg.stat().st_size / 1e6, 2),
                          "plain_size_MB": _MB(out / "SEG_plain.dcm")}  # fmt: skip
        if not quick:
            old, o_wall, o_cpu = _timed(write_seg, out / "SEG_ct.dcm", masks, ct_files,
                                        resample=True, content_datetime=WHEN)  # fmt: skip
            results["seg"].update(previous_ct_grid_wall_s=o_wall, previous_ct_grid_cpu_s=o_cpu,
                                  previous_size_MB=round(old.stat().st_size / 1e6, 2),
                                  speedup_over_previous=round(o_wall / wall, 2))  # fmt: skip
        measurements = {
            name: {"mass_g": 100.0 + n, "volume_mL": 95.0 + n, "tia_MBq_h": 10.0 * n + 1.0,
                   "mean_dose_Gy": 1.0 + 0.1 * n, "bed_Gy": 1.2 + 0.1 * n}
            for n, name in enumerate(masks)
        }  # fmt: skip
        sr, wall, cpu = _timed(write_measurement_sr, out / "SR.dcm", seg, ct_files, measurements,
                               content_datetime=WHEN)  # fmt: skip
        _, p_wall, p_cpu = _timed(_rewrite, sr, out / "SR_plain.dcm")
        results["sr"] = {"ours_wall_s": wall, "ours_cpu_s": cpu, "plain_wall_s": p_wall,
                         "plain_cpu_s": p_cpu, "ratio_wall": round(wall / p_wall, 2)}  # fmt: skip
        results["all_ours_wall_s"] = round(
            sum(results[k]["ours_wall_s"] for k in ("rtdose", "seg", "sr"))
            + results["rtdose"]["ours_wall_s"],  # the BED map is a second RT Dose
            3,
        )
    return results
