"""Geometry kernels for turning planar contours into voxel masks.

Two small building blocks, independent of DICOM, used by :mod:`theranostics.io.rtstruct`:

- :func:`points_in_polygon` — the even-odd (crossing-parity) point-in-polygon test, vectorised
  over many points, with a half-open rule on edges so that a point on a shared edge of two
  adjacent polygons is inside exactly one of them;
- :func:`plane_slabs` — the slab of space each contour plane stands for along the plane
  normal (half-way to its neighbours, capped at half the typical plane spacing so that a gap
  in the stack stays a gap).

All lengths are in mm; the 2D coordinates ``(u, v)`` are any orthonormal in-plane coordinates.
"""

from __future__ import annotations

import numpy as np


def points_in_polygon(
    u: np.ndarray, v: np.ndarray, poly_u: np.ndarray, poly_v: np.ndarray
) -> np.ndarray:
    """Crossing parity of points against one closed polygon (the even-odd rule).

    A ray from each point towards ``+u`` is intersected with every polygon edge; the point is
    inside when the count is odd. Edges are half-open in ``v`` (``min(v1, v2) <= v < max``) so
    a ray through a vertex counts once, and a point exactly on a left edge is inside while one
    exactly on a right edge is not: two polygons sharing an edge never both claim a point.
    XOR-ing the results of several polygons of one plane gives the even-odd rule for the set,
    so a contour drawn inside another is a hole.

    Args:
        u, v: point coordinates (mm), 1D arrays of equal length.
        poly_u, poly_v: polygon vertices (mm) in order; the closing edge from the last to the
            first vertex is implied (a repeated first vertex is harmless).

    Returns:
        Boolean array, True where the point is inside.
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    n_points = u.size
    inside = np.zeros(n_points, dtype=bool)
    if n_points == 0 or len(poly_u) < 3:
        return inside
    u1 = np.asarray(poly_u, dtype=float)
    v1 = np.asarray(poly_v, dtype=float)
    u2 = np.roll(u1, -1)
    v2 = np.roll(v1, -1)
    keep = v1 != v2  # horizontal edges are never crossed by a horizontal ray
    u1, v1, u2, v2 = u1[keep], v1[keep], u2[keep], v2[keep]
    if u1.size == 0:
        return inside

    # Sort points by v: the points an edge can cross form one contiguous run, found by binary
    # search, so the work is proportional to (points x edges actually crossed), not to
    # points x all edges.
    order = np.argsort(v, kind="stable")
    v_sorted = v[order]
    lo = np.searchsorted(v_sorted, np.minimum(v1, v2), side="left")
    hi = np.searchsorted(v_sorted, np.maximum(v1, v2), side="left")
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return inside
    edge = np.repeat(np.arange(u1.size), counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.repeat(lo, counts) + offset  # index into the sorted points
    point = order[pos]
    slope = (u2 - u1) / (v2 - v1)
    u_cross = u1[edge] + (v[point] - v1[edge]) * slope[edge]
    crossings = np.bincount(point[u_cross > u[point]], minlength=n_points)
    inside[:] = (crossings % 2).astype(bool)
    return inside


def plane_slabs(
    positions_mm: np.ndarray, single_plane_thickness_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """The slab ``[position - below, position + above)`` each contour plane stands for.

    Each plane reaches half-way to its neighbour, but never further than half the median plane
    spacing: a regular stack tiles space without gaps or overlaps, while a missing plane (or
    two separate pieces of one structure) is not bridged. The first and last planes reach half
    the median spacing outwards, as a planimetric volume (area x spacing) assumes.

    Args:
        positions_mm: plane positions along the common normal (mm), strictly increasing.
        single_plane_thickness_mm: slab thickness used when there is only one plane (no
            spacing to measure), e.g. the reference grid's spacing along the normal.

    Returns:
        ``(below_mm, above_mm)``, two arrays of half-thicknesses, one per plane.
    """
    pos = np.asarray(positions_mm, dtype=float)
    if pos.size == 1:
        half = np.array([0.5 * float(single_plane_thickness_mm)])
        return half, half.copy()
    gaps = np.diff(pos)
    cap = 0.5 * float(np.median(gaps))
    half_gaps = np.minimum(0.5 * gaps, cap)
    below = np.concatenate(([cap], half_gaps))
    above = np.concatenate((half_gaps, [cap]))
    return below, above
