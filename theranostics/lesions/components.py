"""Connected components, minimum volume and include/exclude seeds.

Connectivity is "full" everywhere: two voxels touch when they share a face, an edge or a
corner (26-neighbourhood in 3D; SimpleITK ``ConnectedComponent(..., fullyConnected=True)``).
Full connectivity keeps a thin, oblique lesion in one piece on a coarse PET grid; the price
is that two lesions touching at a corner merge under a global threshold (the per-lesion
methods split them along the valley between their maxima instead).

Seeds are points in LPS millimetres (Slicer markups give RAS; the Lib converts them):

- an *include* seed keeps the lesion that contains it even below the minimum volume, and
  when no lesion contains it the per-lesion methods grow one from the hottest voxel within
  :data:`SEED_SEARCH_RADIUS_MM` of it;
- an *exclude* seed drops the lesion that contains it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import GeometryError

#: An include seed outside every lesion looks for a maximum within this radius (mm).
SEED_SEARCH_RADIUS_MM = 10.0


def threshold_components(mask: np.ndarray) -> np.ndarray:
    """Label the 26-connected components of a boolean mask ``[k, j, i]`` (int32, 0 =
    background), via SimpleITK's ConnectedComponent with full connectivity."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    labels = sitk.ConnectedComponent(image, True)
    return sitk.GetArrayFromImage(labels).astype(np.int32)


def seed_indices(
    seeds_lps: Iterable[Sequence[float]], reference: sitk.Image, argument: str
) -> list[tuple[int, int, int]]:
    """Voxel indices ``(k, j, i)`` of LPS points (mm) on the reference grid.

    Raises:
        GeometryError: a point is not 3 finite numbers or lies outside the image.
    """
    result = []
    size = reference.GetSize()
    for point in seeds_lps:
        p = np.asarray(point, dtype=float).ravel()
        if p.size != 3 or not np.all(np.isfinite(p)):
            raise GeometryError(
                f"seed {list(p)} is not an (x, y, z) point in mm",
                tag=argument,
                fix="give each seed as three LPS coordinates in mm",
            )
        i, j, k = (round(c) for c in reference.TransformPhysicalPointToContinuousIndex(p))
        if not (0 <= i < size[0] and 0 <= j < size[1] and 0 <= k < size[2]):
            raise GeometryError(
                f"seed at LPS ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm lies outside the image",
                tag=argument,
                fix="place the seed inside the PET/SPECT field of view (LPS coordinates)",
            )
        result.append((int(k), int(j), int(i)))
    return result


def hottest_near(
    values: np.ndarray, index, spacing_mm, free: np.ndarray, radius_mm: float
) -> tuple[int, int, int] | None:
    """The hottest ``free`` voxel within ``radius_mm`` of ``index`` (k, j, i), or None."""
    half = [int(np.ceil(radius_mm / s)) for s in tuple(spacing_mm)[::-1]]
    box = tuple(
        slice(max(0, c - h), min(n, c + h + 1)) for c, h, n in zip(index, half, values.shape)
    )
    k, j, i = np.indices(values[box].shape)
    sz, sy, sx = tuple(spacing_mm)[::-1]
    d2 = ((k + box[0].start - index[0]) * sz) ** 2
    d2 = d2 + ((j + box[1].start - index[1]) * sy) ** 2
    d2 = d2 + ((i + box[2].start - index[2]) * sx) ** 2
    ok = (d2 <= radius_mm**2) & free[box]
    if not ok.any():
        return None
    local = np.unravel_index(int(np.argmax(np.where(ok, values[box], -np.inf))), ok.shape)
    return tuple(int(a + b.start) for a, b in zip(local, box))


def apply_rules(
    labels: np.ndarray,
    values: np.ndarray,
    voxel_volume_mL: float,
    *,
    min_volume_mL: float,
    include: Sequence[tuple[int, int, int]] = (),
    exclude: Sequence[tuple[int, int, int]] = (),
) -> tuple[np.ndarray, list[int], list[str]]:
    """Drop lesions below ``min_volume_mL`` (unless an include seed is in them) and lesions
    holding an exclude seed; renumber the rest 1..n by decreasing maximum.

    Returns:
        ``(labels, old_ids, notes)``: new int32 labels, the old label of each new label
        (``old_ids[n - 1]`` is the old id of new label n), and what the rules did.
    """
    notes: list[str] = []
    count = int(labels.max())
    if count == 0:
        return labels.astype(np.int32), [], notes
    ids = np.arange(1, count + 1)
    where = labels > 0  # statistics over the labelled voxels only (fast on large images)
    sizes = np.bincount(labels[where], minlength=count + 1)[1:]
    maxima = np.asarray(ndimage.maximum(values[where], labels[where], ids))
    keep = sizes * voxel_volume_mL >= min_volume_mL
    small = int(np.count_nonzero(~keep & (sizes > 0)))
    for index in include:
        label = int(labels[index])
        if label and not keep[label - 1]:
            keep[label - 1] = True
            notes.append(
                f"lesion at voxel {index[::-1]} kept below the minimum volume (include seed)"
            )
    for index in exclude:
        label = int(labels[index])
        if label:
            keep[label - 1] = False
            notes.append(f"lesion at voxel {index[::-1]} dropped (exclude seed)")
        else:
            notes.append(f"exclude seed at voxel {index[::-1]} is in no lesion; nothing dropped")
    if small:
        notes.append(f"{small} candidate(s) smaller than {min_volume_mL:g} mL dropped")
    keep &= sizes > 0
    old_ids = [int(i) for i in ids[keep][np.argsort(-maxima[keep], kind="stable")]]
    lookup = np.zeros(count + 1, dtype=np.int32)
    lookup[old_ids] = np.arange(1, len(old_ids) + 1, dtype=np.int32)
    return lookup[labels], old_ids, notes
