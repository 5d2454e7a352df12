"""Time-activity curves (TACs) from registered quantitative images and structure masks.

Structure activity (MBq) at each time point is the occupancy-weighted sum

    A_s(t) = sum_v C_v(t) * w_s(v) * V_voxel * 1e-6

with ``C`` the activity concentration (Bq/mL), ``w_s`` the fractional occupancy of structure
``s`` in voxel ``v`` (:mod:`theranostics.io.masks`) and ``V_voxel`` in mL.

Optional partial-volume correction, the geometric transfer matrix (GTM) of Rousset, Ma and
Evans (J Nucl Med 1998;39:904-911): with a Gaussian point-spread function ``h`` (FWHM in mm)
and the image modelled as uniform concentrations ``c_j`` in the structures blurred by ``h``,
``C = sum_j c_j (h * w_j)``, the measured weighted sums are ``a_i = sum_j G_ij c_j`` with

    G_ij = V_voxel * sum_v w_i(v) (h * w_j)(v)            (mL)

so ``c = G^-1 a`` and the corrected activity is ``c_j * volume_j``. The GTM is exact for
uniform uptake within each structure and a known shift-invariant PSF; it needs the masks to
cover every structure holding activity (a full partition, e.g. organs + lesions + remainder
of body), otherwise activity outside the masks is attributed to the nearest structures. It
amplifies noise for small structures (the matrix is poorly conditioned when many structures
are smaller than the PSF); ``StructureTac.raw_activities_MBq`` keeps the uncorrected sums.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError, QuantificationError
from ..progress import ProgressCallback, report, scaled
from .inputs import validate_times

#: FWHM = FWHM_PER_SIGMA * sigma for a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True, eq=False)
class StructureTac:
    """The time-activity curve of one structure.

    Attributes:
        name: structure name.
        times_h: acquisition times, hours after administration.
        activities_MBq: activity at each time (MBq), partial-volume corrected when
            ``correction`` says so.
        volume_mL: structure volume on the image grid (sum of occupancy x voxel volume).
        raw_activities_MBq: the uncorrected occupancy-weighted sums (MBq).
        mean_concentration_Bq_per_mL: uncorrected mean concentration at each time.
        correction: ``"none"`` or ``"gtm"`` (with the PSF FWHM).
        notes: findings worth showing.
    """

    name: str
    times_h: np.ndarray
    activities_MBq: np.ndarray
    volume_mL: float
    raw_activities_MBq: np.ndarray
    mean_concentration_Bq_per_mL: np.ndarray
    correction: str = "none"
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """A JSON-ready summary (lists instead of arrays)."""
        return {
            "times_h": self.times_h.tolist(),
            "activities_MBq": self.activities_MBq.tolist(),
            "raw_activities_MBq": self.raw_activities_MBq.tolist(),
            "mean_concentration_Bq_per_mL": self.mean_concentration_Bq_per_mL.tolist(),
            "volume_mL": self.volume_mL,
            "correction": self.correction,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Weights:
    """Sparse occupancy of the structures: flat voxel indices and weights per structure."""

    names: list[str]
    index: list[np.ndarray]
    value: list[np.ndarray] = field(default_factory=list)


def check_same_grid(images: Sequence[sitk.Image], what: Sequence[str]) -> None:
    """Raise :class:`GeometryError` unless all images share size, spacing, origin, direction.

    ``what`` names each image for the message (e.g. ``"image at 24 h"``, ``"mask liver"``).
    """
    ref = images[0]
    spacing = np.asarray(ref.GetSpacing())
    for image, name in zip(images[1:], what[1:], strict=True):
        same = (
            image.GetSize() == ref.GetSize()
            and np.allclose(image.GetSpacing(), spacing, rtol=1e-4)
            and np.allclose(image.GetOrigin(), ref.GetOrigin(), atol=1e-3 * spacing.min())
            and np.allclose(image.GetDirection(), ref.GetDirection(), atol=1e-4)
        )
        if not same:
            raise GeometryError(
                f"{name} is not on the grid of {what[0]} (size {image.GetSize()} vs "
                f"{ref.GetSize()}, spacing {image.GetSpacing()} vs {ref.GetSpacing()} mm)",
                tag=name,
                fix="resample every image and mask onto one reference grid (register_study, "
                "load_masks) first",
            )


def _sparse_weights(masks: Mapping[str, sitk.Image]) -> _Weights:
    names, index, value = [], [], []
    for name, mask in masks.items():
        w = sitk.GetArrayViewFromImage(mask).reshape(-1)
        if not np.issubdtype(w.dtype, np.number):
            raise InputError(f"mask {name!r} is not numeric", tag=f"mask {name}")
        idx = np.flatnonzero(w)
        vals = w[idx].astype(np.float64)
        if not np.all(np.isfinite(vals)) or vals.min(initial=0) < 0 or vals.max(initial=0) > 1:
            raise InputError(
                f"mask {name!r} has weights outside [0, 1]",
                tag=f"mask {name}",
                fix="pass binary masks (0/1) or fractional occupancy in [0, 1]",
            )
        if idx.size == 0:
            raise GeometryError(
                f"mask {name!r} is empty on the image grid",
                tag=f"mask {name}",
                fix="check that the structure lies inside the image (load_masks checks this)",
            )
        names.append(name)
        index.append(idx)
        value.append(vals)
    return _Weights(names, index, value)


def gtm_matrix(
    masks: Mapping[str, sitk.Image],
    psf_fwhm_mm: float | Sequence[float],
    *,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """The geometric transfer matrix ``G`` (mL) of the masks for a Gaussian PSF.

    ``G[i, j] = V_voxel * sum_v w_i(v) (h * w_j)(v)``: the weighted sum over structure ``i``
    (Bq/mL x mL) of the image of a unit concentration (1 Bq/mL) in structure ``j`` (Rousset
    et al. 1998). Rows and columns follow the order of ``masks``. ``psf_fwhm_mm``: one FWHM
    or one per axis (i, j, k), in mm; 0 models no blur, only the mixing of structures that
    share boundary voxels (an image that is the block average of a finer one). Masks must
    share one grid.
    """
    fwhm = np.broadcast_to(np.asarray(psf_fwhm_mm, dtype=float), (3,))
    if not np.all(np.isfinite(fwhm)) or np.any(fwhm < 0):
        raise InputError(
            f"psf_fwhm_mm must be >= 0, got {psf_fwhm_mm!r}",
            tag="psf_fwhm_mm",
            fix="give the system's reconstructed resolution (FWHM, mm), e.g. 12",
        )
    names = list(masks)
    check_same_grid([masks[n] for n in names], [f"mask {n}" for n in names])
    weights = _sparse_weights(masks)
    ref = masks[names[0]]
    voxel_mL = float(np.prod(ref.GetSpacing())) / 1000.0
    sigma = (fwhm / FWHM_PER_SIGMA).tolist()
    g = np.zeros((len(names), len(names)))
    shape = sitk.GetArrayViewFromImage(ref).shape
    # Blur only a box around each structure: beyond 4 sigma the Gaussian is < 4e-4 of its peak.
    margin = np.ceil(4.0 * np.asarray(sigma) / np.asarray(ref.GetSpacing())).astype(int)[::-1]
    for j, name in enumerate(names):
        report(progress, j / len(names), f"blurring {name}")
        kji = np.unravel_index(weights.index[j], shape)
        lo = np.maximum([int(a.min()) for a in kji] - margin, 0)
        hi = np.minimum([int(a.max()) + 1 for a in kji] + margin, shape)
        box = sitk.RegionOfInterest(
            sitk.Cast(masks[name], sitk.sitkFloat32),
            [int(v) for v in (hi - lo)[::-1]],
            [int(v) for v in lo[::-1]],
        )
        full = np.zeros(shape, dtype=np.float32)
        # FWHM 0 along an axis: no blur along it (only the voxel mixing of the occupancy).
        blurred = box if not any(sigma) else sitk.SmoothingRecursiveGaussian(box, sigma)
        full[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = sitk.GetArrayFromImage(blurred)
        flat = full.reshape(-1)
        for i in range(len(names)):
            g[i, j] = voxel_mL * float(np.dot(weights.value[i], flat[weights.index[i]]))
    report(progress, 1.0, "transfer matrix done")
    return g


def structure_tacs(
    images_Bq_per_mL: Sequence[sitk.Image],
    times_h,
    masks: Mapping[str, sitk.Image],
    *,
    psf_fwhm_mm: float | Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, StructureTac]:
    """Activity (MBq) of every structure at every time point.

    Args:
        images_Bq_per_mL: activity-concentration images (Bq/mL, at each acquisition start),
            all on one grid (registered), in the order of ``times_h``; not modified.
        times_h: acquisition times, hours after administration (increasing).
        masks: structure name -> weights on the same grid: binary (0/1) or fractional
            occupancy in [0, 1] (``MaskSet.weights``).
        psf_fwhm_mm: when given, correct for partial volume with the GTM (module docstring)
            using a Gaussian PSF of this FWHM (mm; one value or one per axis i, j, k).
        progress: callback(fraction, message).

    Returns:
        name -> :class:`StructureTac`, in the order of ``masks``.

    Raises:
        TimingError: bad ``times_h``; InputError: number of images differs from times, bad
        weights; GeometryError: images or masks on different grids, an empty mask;
        QuantificationError: NaN/inf inside a structure, or a negative structure total.
    """
    t = validate_times(times_h)
    images = list(images_Bq_per_mL)
    if len(images) != len(t):
        raise InputError(
            f"{len(images)} images for {len(t)} time points",
            tag="images_Bq_per_mL",
            fix="give one registered image per time point",
        )
    if not masks:
        raise InputError("no masks given", tag="masks", fix="load masks with load_masks")
    names = list(masks)
    labels = [f"image at {x:g} h" for x in t] + [f"mask {n}" for n in names]
    check_same_grid(images + [masks[n] for n in names], labels)
    weights = _sparse_weights(masks)
    voxel_mL = float(np.prod(images[0].GetSpacing())) / 1000.0
    raw = np.zeros((len(names), len(t)))
    for ti, image in enumerate(images):
        report(progress, 0.5 * ti / len(t), f"summing structures at {t[ti]:g} h")
        flat = sitk.GetArrayViewFromImage(image).reshape(-1)
        for si, name in enumerate(names):
            values = flat[weights.index[si]].astype(np.float64)
            if not np.all(np.isfinite(values)):
                raise QuantificationError(
                    f"image at {t[ti]:g} h has NaN or infinite voxels inside {name!r}",
                    tag=f"image at {t[ti]:g} h",
                    fix="check the quantification (calibration, resampling outside the field "
                    "of view)",
                )
            raw[si, ti] = float(np.dot(values, weights.value[si])) * voxel_mL * 1e-6
    negative = [(names[s], t[k]) for s, k in zip(*np.nonzero(raw < 0), strict=True)]
    if negative:
        name, when = negative[0]
        raise QuantificationError(
            f"structure {name!r} has a negative total activity at {when:g} h",
            tag=f"mask {name}",
            fix="negative totals come from reconstruction or background subtraction: check the "
            "image, or enlarge the structure",
        )
    volumes = np.array([w.sum() * voxel_mL for w in weights.value])
    corrected, correction, notes = raw, "none", []
    if psf_fwhm_mm is not None:
        g = gtm_matrix(masks, psf_fwhm_mm, progress=scaled(progress, 0.5, 0.95))
        concentration = np.linalg.solve(g, raw * 1e6)  # Bq/mL per structure and time
        corrected = concentration * volumes[:, None] * 1e-6
        fwhm = np.broadcast_to(np.asarray(psf_fwhm_mm, dtype=float), (3,))
        correction = f"gtm (Gaussian PSF FWHM {'/'.join(f'{f:g}' for f in fwhm)} mm)"
        notes.append(f"condition number of the transfer matrix: {np.linalg.cond(g):.3g}")
    out: dict[str, StructureTac] = {}
    for si, name in enumerate(names):
        own = list(notes)
        if np.any(corrected[si] < 0):
            own.append("partial-volume correction gave a negative activity (noise)")
        out[name] = StructureTac(
            name=name,
            times_h=t.copy(),
            activities_MBq=corrected[si].copy(),
            volume_mL=float(volumes[si]),
            raw_activities_MBq=raw[si].copy(),
            mean_concentration_Bq_per_mL=raw[si] * 1e6 / volumes[si],
            correction=correction,
            notes=tuple(own),
        )
    report(progress, 1.0, "time-activity curves done")
    return out


def voxel_activity_stack(
    images_Bq_per_mL: Sequence[sitk.Image],
    *,
    dtype=np.float64,
) -> np.ndarray:
    """A ``(T, k, j, i)`` array of activity per voxel (MBq) from concentration images.

    ``A = C [Bq/mL] * V_voxel [mL] * 1e-6``; the images must share one grid. Non-finite
    voxels are kept (the voxel TIA marks them NaN). For :func:`.voxel.voxel_tia`, whose map
    is then in MBq·h per voxel.

    Raises:
        InputError: no images; GeometryError: different grids.
    """
    images = list(images_Bq_per_mL)
    if not images:
        raise InputError("no images given", tag="images_Bq_per_mL")
    check_same_grid(images, [f"image {i}" for i in range(len(images))])
    voxel_mL = float(np.prod(images[0].GetSpacing())) / 1000.0
    stack = np.empty((len(images), *sitk.GetArrayViewFromImage(images[0]).shape), dtype=dtype)
    for i, image in enumerate(images):
        stack[i] = sitk.GetArrayViewFromImage(image)
    stack *= voxel_mL * 1e-6
    return stack
