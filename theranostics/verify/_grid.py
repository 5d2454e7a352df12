"""Geometry helpers shared by the verification tools: dose-image checks, the affine map from
one image's voxels to another's continuous indices, and trilinear interpolation with its
gradient.

Array order is numpy's ``[k, j, i]``; SimpleITK indices and physical points are ``(i, j, k)``
and LPS mm. A voxel index maps to a point as ``P = origin + direction · diag(spacing) · idx``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError


def check_dose_image(image: sitk.Image, name: str) -> np.ndarray:
    """The voxels of a 3D scalar dose image as a float64 array ``[k, j, i]``.

    Raises:
        GeometryError: not a 3D image, or empty.
        InputError: not a SimpleITK image, vector-valued, or with NaN/infinite voxels.
    """
    if not isinstance(image, sitk.Image):
        raise InputError(
            f"{name} is a {type(image).__name__}, not a SimpleITK image",
            tag=name,
            fix="read the dose with theranostics.io.read_image(...).image or SimpleITK",
        )
    if image.GetDimension() != 3:
        raise GeometryError(
            f"{name} dose has {image.GetDimension()} dimensions, 3 expected",
            tag=name,
            fix="give a 3D dose volume (a single slice is a volume of one slice)",
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{name} dose has {image.GetNumberOfComponentsPerPixel()} components per voxel",
            tag=name,
            fix="give a scalar dose image",
        )
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    if array.size == 0:
        raise GeometryError(f"{name} dose is empty", tag=name, fix="give a non-empty volume")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise InputError(
            f"{name} dose has {bad} NaN or infinite voxel(s)",
            tag=name,
            fix="replace undefined voxels (e.g. with 0 Gy) before comparing",
        )
    return array


def _voxel_to_physical(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(A, origin) with P = A · (i, j, k) + origin, in mm."""
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    a = direction @ np.diag(image.GetSpacing())
    return a, np.array(image.GetOrigin(), dtype=float)


@dataclass(frozen=True)
class IndexMap:
    """Affine map from the voxels of a source image and physical offsets to continuous
    ``[k, j, i]`` indices of a target image."""

    #: (3, 3): target index (i, j, k) per mm of LPS displacement.
    inverse: np.ndarray
    #: (3, 3): target index (i, j, k) per source index (i, j, k).
    linear: np.ndarray
    #: (3,): target index (i, j, k) of the source voxel (0, 0, 0).
    shift: np.ndarray

    def points(self, kji: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """Continuous target indices ``(3, n)`` in array order of source voxels ``kji``."""
        ijk = np.stack([kji[2], kji[1], kji[0]]).astype(float)
        target = self.linear @ ijk + self.shift[:, None]
        return np.ascontiguousarray(target[::-1])

    def displacements(self, offsets_mm: np.ndarray) -> np.ndarray:
        """Index displacement ``(3, m)`` in array order of LPS offsets ``(m, 3)`` in mm."""
        return np.ascontiguousarray((self.inverse @ np.asarray(offsets_mm, float).T)[::-1])

    def gradient_to_physical(self, grad_kji: np.ndarray) -> np.ndarray:
        """LPS gradient ``(n, 3)`` (per mm) from an index gradient ``(3, n)`` in array
        order (chain rule: dE/dP = Mᵀ dE/d(ijk))."""
        return (self.inverse.T @ grad_kji[::-1]).T


def array_index_map(source: sitk.Image, target: sitk.Image) -> IndexMap:
    """The :class:`IndexMap` from ``source`` voxels to ``target`` continuous indices."""
    a_s, o_s = _voxel_to_physical(source)
    a_t, o_t = _voxel_to_physical(target)
    try:
        inverse = np.linalg.inv(a_t)
    except np.linalg.LinAlgError:
        raise GeometryError(
            "the evaluated image direction matrix is singular",
            tag="direction",
            fix="check the image header",
        ) from None
    return IndexMap(inverse=inverse, linear=inverse @ a_s, shift=inverse @ (o_s - o_t))


def trilinear_with_gradient(array: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trilinear interpolation of ``array`` at continuous indices ``coords`` (3, n), array
    order, with the gradient of the interpolant with respect to those indices.

    Points outside ``[0, size-1]`` on any axis give NaN. Axes of size 1 are constant (zero
    gradient). Returns ``(values (n,), gradient (3, n))``.
    """
    array = np.ascontiguousarray(array)  # no copy for the float64 arrays used here
    shape = np.array(array.shape)
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    upper = np.maximum(shape - 2, 0)[:, None]
    base_index = np.clip(np.floor(coords), 0, upper).astype(np.intp)
    t = coords - base_index
    t[shape == 1] = 0.0
    step = np.where(shape > 1, strides, 0)
    flat = array.ravel()
    base = base_index[0] * strides[0] + base_index[1] * strides[1] + base_index[2] * strides[2]
    tk, tj, ti = t

    def along_i(offset):
        lo = flat[base + offset]
        hi = flat[base + offset + step[2]]
        return lo + ti * (hi - lo), hi - lo

    a00, d00 = along_i(0)
    a01, d01 = along_i(step[1])
    a10, d10 = along_i(step[0])
    a11, d11 = along_i(step[0] + step[1])
    b0, b1 = a00 + tj * (a01 - a00), a10 + tj * (a11 - a10)
    di0, di1 = d00 + tj * (d01 - d00), d10 + tj * (d11 - d10)
    value = b0 + tk * (b1 - b0)
    grad = np.stack(
        [
            b1 - b0,
            (a01 - a00) + tk * ((a11 - a10) - (a01 - a00)),
            di0 + tk * (di1 - di0),
        ]
    )
    outside = np.any((coords < -1e-9) | (coords > shape[:, None] - 1 + 1e-9), axis=0)
    value[outside] = np.nan
    return value, grad
