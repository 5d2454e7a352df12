"""Per-lesion thresholds grown from local maxima: percentage of the lesion maximum, and the
background-adaptive threshold.

1. **Maxima.** Regional maxima of the h-maxima transform (height ``prominence``) are the
   lesion markers: a noise bump less than ``prominence`` above the saddle that joins it to a
   higher maximum is not a marker of its own (Soille P, Morphological Image Analysis, 2nd
   ed., Springer 2003, ch. 6). Markers whose maximum is below ``floor`` are background.
2. **Basins.** A marker-controlled watershed of the negated image (Beucher S, Meyer F, The
   morphological approach to segmentation: the watershed transformation, in Mathematical
   Morphology in Image Processing, Marcel Dekker 1993, pp. 433-481) splits the image into one
   catchment basin per marker. Two lesions that touch are separated along the valley between
   their maxima; each keeps its own threshold. Markers inside excluded organs take part (so a
   kidney keeps its own basin) and are dropped afterwards. For speed the image is clipped
   below the lowest threshold any lesion can get and quantised to 4096 levels before
   flooding, and clipped below ``floor − prominence`` before the h-maxima transform (exact
   for the markers used).
3. **Threshold per lesion**, from its maximum M, its SUVpeak-type reference I_ref (highest
   1 mL sphere mean in its 70 % core) and its local background B (median of the voxels 15-25
   mm outside the core, not in excluded organs, above zero (inside the patient), below
   ``floor`` or, when the floor lies below the background, below the shell's median + 3
   robust SD):

   - ``percent-max``: T = p × M (EANM FDG PET/CT guideline 2.0, Boellaard R et al. Eur J
     Nucl Med Mol Imaging 2015;42:328-354: 41 % of SUVmax; 50 % also in use).
   - ``adaptive``: T = B + f × (I_ref − B), the background-corrected relative threshold
     (f = 50 %: "A50P" of Frings V et al. Radiology 2014;273:539-548; the same family as the
     background-dependent thresholds of Erdi YE et al. Cancer 1997;80:2505-2509 and Nestle U
     et al. J Nucl Med 2005;46:1342-1348, T = β I_70 + B).

   A threshold at or below B + 2 σ_B (σ_B from the median absolute deviation) would flood
   the basin: the fraction is then applied above the background, T = B + max(2 σ_B,
   f × (M − B)), and the lesion is flagged (``clamped``).
4. **Region**: the voxels of the basin at or above T connected (26-neighbourhood, "full
   connectivity") to the maximum, not in excluded organs.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .suv_peak import sphere_kernel, sphere_means

#: 26-neighbourhood structuring element ("full connectivity").
FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
#: Background shell around a lesion core: inner and outer distance (mm).
SHELL_MM = (15.0, 25.0)


def find_markers(
    values: np.ndarray, spacing_mm, *, prominence: float, floor: float
) -> tuple[np.ndarray, list[int]]:
    """Label the regional maxima of the h-maxima transform; return ``(markers, ids)`` with
    ``ids`` the markers whose maximum is at least ``floor``, hottest first."""
    # Clipping below floor - prominence changes no dome of a maximum >= floor (its saddles
    # either lie above that level or are deeper than the prominence anyway) and turns the
    # background into one flat plateau, which the reconstruction crosses quickly.
    clipped = np.maximum(values, np.float32(floor - prominence)).astype(np.float32)
    image = sitk.GetImageFromArray(clipped)
    image.SetSpacing(tuple(float(s) for s in spacing_mm))
    domes = sitk.HMaxima(image, float(prominence))
    maxima = sitk.RegionalMaxima(domes, 0, 1, True)
    markers = sitk.GetArrayFromImage(sitk.ConnectedComponent(maxima, True)).astype(np.int32)
    count = int(markers.max())
    if count == 0:
        return markers, []
    where = markers > 0  # labelled statistics over the few marker voxels only: fast
    peaks = np.asarray(ndimage.maximum(values[where], markers[where], np.arange(1, count + 1)))
    ids = [i + 1 for i in np.argsort(-peaks) if peaks[i] >= floor]
    keep = np.zeros(count + 1, dtype=np.int32)
    keep[ids] = ids
    return keep[markers], ids


#: Grey levels of the quantised image the watershed floods.
WATERSHED_LEVELS = 4096


def watershed_basins(values: np.ndarray, markers: np.ndarray, lower: float) -> np.ndarray:
    """Marker-controlled watershed of ``-values``: every voxel gets the label of a basin.

    Values below ``lower`` (no lesion threshold is lower) are flattened and the rest is
    quantised to :data:`WATERSHED_LEVELS` levels: flooding a float image with millions of
    distinct levels is an order of magnitude slower, and basin borders move by at most one
    level (1/4096 of the range)."""
    top = float(values.max())
    span = max(top - lower, 1e-12)
    levels = (top - np.maximum(values, lower)) / span * (WATERSHED_LEVELS - 1)
    image = sitk.GetImageFromArray(np.clip(levels, 0, WATERSHED_LEVELS - 1).astype(np.uint16))
    seeds = sitk.GetImageFromArray(markers.astype(np.uint32))
    basins = sitk.MorphologicalWatershedFromMarkers(image, seeds, False, True)
    return sitk.GetArrayFromImage(basins).astype(np.int32)


def _box(index, shape, spacing_mm, margin_mm) -> tuple[slice, ...]:
    pads = [int(np.ceil(margin_mm / s)) + 1 for s in tuple(spacing_mm)[::-1]]
    return tuple(
        slice(max(0, lo - p), min(n, hi + p)) for (lo, hi), n, p in zip(index, shape, pads)
    )


def component_containing(mask: np.ndarray, index) -> np.ndarray:
    """The 26-connected component of ``mask`` holding voxel ``index`` (empty if outside).

    A flood fill from the voxel (SimpleITK ConnectedThreshold, full connectivity): its cost
    grows with the component, not with the crop, which matters in large basins."""
    if not mask[tuple(index)]:
        return np.zeros_like(mask)
    image = sitk.GetImageFromArray(mask.view(np.uint8))
    filled = sitk.ConnectedThreshold(
        image,
        seedList=[tuple(int(i) for i in index[::-1])],
        lower=1,
        upper=1,
        replaceValue=1,
        connectivity=sitk.ConnectedThresholdImageFilter.FullConnectivity,
    )
    return sitk.GetArrayViewFromImage(filled).astype(bool)


def local_background(
    values: np.ndarray, core: np.ndarray, allowed: np.ndarray, spacing_mm, floor: float
) -> tuple[float, float, int]:
    """Median and robust SD (1.4826 × MAD) of the shell 15-25 mm outside ``core`` (arrays on
    the same crop); voxels not allowed, and voxels at or above ``floor`` when enough remain,
    are left out. Returns ``(median, sd, voxels)``; (nan, nan, 0) for an empty shell."""
    sampling = tuple(float(s) for s in spacing_mm)[::-1]
    distance = ndimage.distance_transform_edt(~core, sampling=sampling)
    shell = (distance > SHELL_MM[0]) & (distance <= SHELL_MM[1]) & allowed
    # Voxels without uptake (outside the patient) are not background: a lesion at the skin
    # would otherwise get B = 0.
    inside = shell & (values > 0)
    shell = inside if inside.sum() >= 10 else shell
    if not shell.any():
        return float("nan"), float("nan"), 0
    # Hot neighbours (other lesions, organs) are left out: voxels at or above the floor, or
    # above the shell's median + 3 robust SD when the floor lies below the background.
    everything = values[shell]
    middle = float(np.median(everything))
    cutoff = max(floor, middle + 3.0 * 1.4826 * float(np.median(np.abs(everything - middle))))
    cool = shell & (values < cutoff)
    samples = values[cool] if cool.sum() >= 10 else everything
    median = float(np.median(samples))
    sd = 1.4826 * float(np.median(np.abs(samples - median)))
    return median, sd, int(samples.size)


def grow_lesion(
    values: np.ndarray,
    candidates: np.ndarray,
    allowed: np.ndarray,
    box: tuple[slice, ...],
    start,
    spacing_mm,
    *,
    rule: str,
    fraction: float,
    floor: float,
) -> tuple[np.ndarray, dict]:
    """Grow one lesion from voxel ``start`` (its maximum).

    Args:
        values: uptake ``[k, j, i]`` (whole image).
        candidates: boolean array on the crop ``box``: voxels the lesion may take (its basin,
            not excluded, not taken by a hotter lesion).
        allowed: voxels not excluded (whole image; for the background shell).
        box: the crop of the whole image that ``candidates`` covers.
        start: (k, j, i) of the maximum in the whole image.
        spacing_mm: (i, j, k).
        rule: ``"percent-max"`` or ``"adaptive"``.
        fraction: p (percent-max) or f (adaptive), in 0-1.
        floor: detection floor (for the background shell).

    Returns:
        ``(region, info)``: boolean region on ``box``, and the lesion's ``max``,
        ``reference``, ``background``, ``background_sd``, ``threshold``, ``clamped``.
    """
    v = values[box]
    local = tuple(int(s - b.start) for s, b in zip(start, box))
    peak_value = float(v[local])
    core = component_containing(candidates & (v >= 0.7 * peak_value), local)
    # The background shell needs 25 mm around the core, which the basin crop may not have.
    where = np.argwhere(core)
    lo = where.min(axis=0) + [b.start for b in box]
    hi = where.max(axis=0) + 1 + [b.start for b in box]
    shell_box = _box(list(zip(lo, hi)), values.shape, spacing_mm, SHELL_MM[1])
    shell_core = np.zeros([b.stop - b.start for b in shell_box], dtype=bool)
    shell_core[tuple(slice(a - c.start, z - c.start) for a, z, c in zip(lo, hi, shell_box))] = core[
        tuple(slice(a - b.start, z - b.start) for a, z, b in zip(lo, hi, box))
    ]
    background, background_sd, shell_voxels = local_background(
        values[shell_box], shell_core, allowed[shell_box], spacing_mm, floor
    )
    kernel = sphere_kernel(spacing_mm)
    reference = float(np.max(np.where(core, sphere_means(v, kernel), -np.inf)))
    if rule == "percent-max":
        threshold = fraction * peak_value
    else:
        base = background if np.isfinite(background) else 0.0
        threshold = base + fraction * (reference - base)
    clamped = False
    if np.isfinite(background) and threshold <= background + 2.0 * background_sd:
        # A low-contrast lesion: the fraction is applied above the background instead
        # (T = B + fraction x (M - B)), and never below B + 2 SD.
        lifted = background + max(2.0 * background_sd, fraction * (peak_value - background))
        threshold, clamped = lifted, True
    region = component_containing(candidates & (v >= threshold), local)
    info = {
        "max": peak_value,
        "reference": reference,
        "background": background,
        "background_sd": background_sd,
        "background_voxels": shell_voxels,
        "threshold": float(threshold),
        "clamped": clamped,
    }
    return region, info


def grow_all(
    values: np.ndarray,
    allowed: np.ndarray,
    spacing_mm,
    *,
    rule: str,
    fraction: float,
    floor: float,
    prominence: float,
) -> tuple[np.ndarray, list[dict], int]:
    """Every lesion of the image, hottest first.

    Returns:
        ``(labels, infos, skipped)``: int32 labels ``[k, j, i]`` (1..n in the order of
        ``infos``), one info dict per lesion (see :func:`grow_lesion`, plus ``start`` (k, j,
        i)), and the number of maxima skipped because they lie in excluded voxels.
    """
    markers, ids = find_markers(values, spacing_mm, prominence=prominence, floor=floor)
    labels = np.zeros(values.shape, dtype=np.int32)
    infos: list[dict] = []
    if not ids:
        return labels, infos, 0
    # The lowest threshold a lesion can get: p × its maximum (percent-max); for adaptive
    # (1 - f) B + f I_ref >= f I_ref, taken as f × half the maximum (I_ref, a 1 mL mean, is
    # rarely below half the maximum voxel).
    where = markers > 0
    peaks = ndimage.maximum(values[where], markers[where], ids)
    lower = fraction * min(peaks) * (1.0 if rule == "percent-max" else 0.5)
    basins = watershed_basins(values, markers, lower)
    boxes = ndimage.find_objects(basins)
    skipped = 0
    for marker in ids:
        box = boxes[marker - 1]
        if box is None:
            continue
        in_marker = markers[box] == marker
        local = np.unravel_index(
            int(np.argmax(np.where(in_marker, values[box], -np.inf))), in_marker.shape
        )
        start = tuple(int(i + b.start) for i, b in zip(local, box))
        if not allowed[start]:
            skipped += 1
            continue
        candidates = (basins[box] == marker) & allowed[box] & (labels[box] == 0)
        region, info = grow_lesion(
            values, candidates, allowed, box, start, spacing_mm,
            rule=rule, fraction=fraction, floor=floor,
        )  # fmt: skip
        if not region.any():
            continue
        labels[box][region] = len(infos) + 1
        info["start"] = start
        infos.append(info)
    return labels, infos, skipped
