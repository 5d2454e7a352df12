"""Analytic anatomy of the phantom: a torso-and-head body made of ellipsoids and elliptic
cylinders, voxelised on any grid and in any rigid pose.

Coordinates are DICOM LPS in mm (+x patient left, +y posterior, +z superior). The body is
painted shape after shape in a fixed order, each shape writing its *tissue class* over what
is already there (so organs cut into the body, marrow into bone, lesions into anything). A
tissue class carries the structure it belongs to, its CT number (HU) and its mass density
(g/mL). A voxel belongs to the shape that contains its centre (no partial-volume mixing).

Tissue CT numbers and densities are round textbook values (ICRU Report 46 / ICRP 110
densities; typical contrast-free CT numbers), not measurements of one scanner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A regular 3D grid with identity direction cosines in LPS.

    Attributes:
        size: number of voxels (nx, ny, nz) along +x, +y, +z.
        spacing_mm: voxel spacing (sx, sy, sz) in mm.
        origin_mm: LPS position of the centre of voxel (0, 0, 0), mm.
    """

    size: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    @property
    def shape_kji(self) -> tuple[int, int, int]:
        """numpy array shape ``(nz, ny, nx)``."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def voxel_volume_mL(self) -> float:
        return float(np.prod(self.spacing_mm)) / 1000.0

    def axis_mm(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates (mm) along axis 0 (x), 1 (y) or 2 (z)."""
        return self.origin_mm[axis] + self.spacing_mm[axis] * np.arange(self.size[axis])

    def coarsened(self, factor: int) -> Grid:
        """The grid whose voxels are ``factor``^3 blocks of this one (sizes must divide)."""
        if any(n % factor for n in self.size):
            raise ValueError(f"grid size {self.size} is not divisible by {factor}")
        spacing = tuple(s * factor for s in self.spacing_mm)
        origin = tuple(o + (factor - 1) * s / 2.0 for o, s in zip(self.origin_mm, self.spacing_mm))
        return Grid(tuple(n // factor for n in self.size), spacing, origin)

    def index_of(self, point_mm) -> tuple[int, int, int]:
        """Nearest voxel index (i, j, k) of an LPS point."""
        return tuple(
            round((p - o) / s) for p, o, s in zip(point_mm, self.origin_mm, self.spacing_mm)
        )

    def centre_of(self, index) -> tuple[float, float, float]:
        return tuple(o + s * i for o, s, i in zip(self.origin_mm, self.spacing_mm, index))


@dataclass(frozen=True)
class RigidTransform:
    """``x_scanner = R (x_patient - centre) + centre + translation`` (mm, LPS).

    ``angles_deg`` are rotations about x, y, z applied in that order (R = Rz Ry Rx).
    """

    angles_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    centre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        ax, ay, az = np.deg2rad(self.angles_deg)
        rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
        ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
        rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
        return rz @ ry @ rx

    @property
    def is_identity(self) -> bool:
        return not any(self.angles_deg) and not any(self.translation_mm)

    def forward(self, pts: np.ndarray) -> np.ndarray:
        """Patient (reference) points (N, 3) to scanner points."""
        offset = np.asarray(self.centre_mm) + np.asarray(self.translation_mm)
        return _affine(pts - np.asarray(self.centre_mm), self.matrix, offset)

    def inverse(self, pts: np.ndarray) -> np.ndarray:
        """Scanner points (N, 3) to patient (reference) points."""
        c = np.asarray(self.centre_mm)
        return _affine(pts - c - np.asarray(self.translation_mm), self.matrix.T, c)

    def to_json(self) -> dict:
        return {
            "convention": "x_scanner = R (x_reference - centre) + centre + translation; "
            "R = Rz Ry Rx, angles about LPS x, y, z",
            "angles_deg": list(self.angles_deg),
            "translation_mm": list(self.translation_mm),
            "centre_mm": list(self.centre_mm),
            "matrix": self.matrix.round(12).tolist(),
        }


def _affine(pts: np.ndarray, matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``pts @ matrix.T + offset`` column by column (faster than a (N,3)@(3,3) product)."""
    out = np.empty_like(pts, dtype=np.float64)
    for row in range(3):
        out[:, row] = (
            matrix[row, 0] * pts[:, 0]
            + matrix[row, 1] * pts[:, 1]
            + matrix[row, 2] * pts[:, 2]
            + offset[row]
        )
    return out


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid with centre and semi-axes (mm); ``rotation`` (3x3, rows = local axes in LPS)
    orients it, identity when ``None``."""

    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    rotation: tuple[tuple[float, ...], ...] | None = None

    def contains(self, pts: np.ndarray) -> np.ndarray:
        d = pts - np.asarray(self.centre)
        if self.rotation is not None:
            d = d @ np.asarray(self.rotation).T
        return np.sum((d / np.asarray(self.semi_axes)) ** 2, axis=1) <= 1.0

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        r = max(self.semi_axes) if self.rotation is not None else None
        half = np.full(3, r) if r is not None else np.asarray(self.semi_axes, dtype=float)
        c = np.asarray(self.centre, dtype=float)
        return c - half, c + half

    @property
    def volume_mL(self) -> float:
        return 4.0 / 3.0 * np.pi * float(np.prod(self.semi_axes)) / 1000.0


@dataclass(frozen=True)
class EllipticCylinder:
    """Elliptic cylinder along z: centre (x, y), semi-axes (a, b) mm, from z0 to z1 mm."""

    centre_xy: tuple[float, float]
    semi_xy: tuple[float, float]
    z_range: tuple[float, float]

    def contains(self, pts: np.ndarray) -> np.ndarray:
        dx = (pts[:, 0] - self.centre_xy[0]) / self.semi_xy[0]
        dy = (pts[:, 1] - self.centre_xy[1]) / self.semi_xy[1]
        z = pts[:, 2]
        return (dx * dx + dy * dy <= 1.0) & (z >= self.z_range[0]) & (z <= self.z_range[1])

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        cx, cy = self.centre_xy
        a, b = self.semi_xy
        return np.array([cx - a, cy - b, self.z_range[0]]), np.array(
            [cx + a, cy + b, self.z_range[1]]
        )


Shape = Ellipsoid | EllipticCylinder


@dataclass(frozen=True)
class Tissue:
    """A tissue class: structure name (``None`` for air), CT number (HU), density (g/mL)."""

    name: str
    structure: str | None
    hu: float
    density_g_per_mL: float


#: Structures with fixed label values; lesions get ``LESION_LABEL_BASE + n`` (lesion_01 -> 21).
ORGAN_LABELS: dict[str, int] = {
    "kidney_left": 1,
    "kidney_right": 2,
    "liver": 3,
    "spleen": 4,
    "parotid_left": 5,
    "parotid_right": 6,
    "submandibular_left": 7,
    "submandibular_right": 8,
    "bladder": 9,
    "red_marrow": 10,
    "lung_left": 11,
    "lung_right": 12,
    "cortical_bone": 13,
    "remainder_of_body": 14,
}
LESION_LABEL_BASE = 20

#: The fixed tissues (class index = position); lesion tissues are appended after them.
BASE_TISSUES: tuple[Tissue, ...] = (
    Tissue("air", None, -1000.0, 0.0012),
    Tissue("fat", "remainder_of_body", -100.0, 0.95),
    Tissue("muscle", "remainder_of_body", 40.0, 1.05),
    Tissue("brain", "remainder_of_body", 35.0, 1.04),
    Tissue("blood", "remainder_of_body", 45.0, 1.06),
    Tissue("lung_left", "lung_left", -800.0, 0.26),
    Tissue("lung_right", "lung_right", -800.0, 0.26),
    Tissue("cortical_bone", "cortical_bone", 900.0, 1.85),
    Tissue("red_marrow", "red_marrow", 250.0, 1.10),
    Tissue("liver", "liver", 60.0, 1.06),
    Tissue("spleen", "spleen", 45.0, 1.06),
    Tissue("kidney_left", "kidney_left", 30.0, 1.05),
    Tissue("kidney_right", "kidney_right", 30.0, 1.05),
    Tissue("parotid_left", "parotid_left", 10.0, 1.04),
    Tissue("parotid_right", "parotid_right", 10.0, 1.04),
    Tissue("submandibular_left", "submandibular_left", 40.0, 1.05),
    Tissue("submandibular_right", "submandibular_right", 40.0, 1.05),
    Tissue("bladder", "bladder", 10.0, 1.01),
)
_T = {t.name: i for i, t in enumerate(BASE_TISSUES)}

#: Lesion tissue by host: CT number (HU) and density (g/mL). Bone metastases of prostate
#: cancer are mostly sclerotic; liver metastases hypodense to liver.
LESION_TISSUE = {"bone": (450.0, 1.30), "node": (35.0, 1.04), "liver": (25.0, 1.04)}

#: Rotation centre of the rigid patient motion (mm, LPS): roughly the body's centre.
BODY_CENTRE_MM = (0.0, 20.0, 300.0)
#: Cranio-caudal extent of the phantom's field of view (mm).
Z_EXTENT_MM = (-15.0, 753.0)


def _base_paint() -> list[tuple[Shape, int]]:
    """The body, shape by shape, in painting order (later shapes overwrite earlier ones)."""
    E, C = Ellipsoid, EllipticCylinder
    paint: list[tuple[Shape, int]] = [
        # torso: subcutaneous fat around muscle/soft tissue
        (C((0, 0), (170, 115), (0, 470)), _T["fat"]),
        (C((0, 0), (155, 100), (6, 464)), _T["muscle"]),
        # neck, lower face/jaw, skull and brain
        (C((0, 15), (55, 55), (460, 560)), _T["fat"]),
        (C((0, 15), (48, 48), (462, 560)), _T["muscle"]),
        (E((0, -5, 575), (65, 72, 45)), _T["muscle"]),
        (E((0, 10, 655), (72, 90, 90)), _T["cortical_bone"]),
        (E((0, 10, 655), (65, 83, 83)), _T["brain"]),
        # thorax
        (E((92, 10, 360), (62, 78, 100)), _T["lung_left"]),
        (E((-92, 10, 360), (62, 78, 100)), _T["lung_right"]),
        (E((20, -25, 320), (55, 50, 60)), _T["blood"]),
        # abdomen
        (E((-80, -15, 225), (90, 75, 58)), _T["liver"]),
        (E((105, 35, 240), (28, 40, 45)), _T["spleen"]),
        (E((75, 55, 175), (28, 24, 52)), _T["kidney_left"]),
        (E((-75, 55, 175), (28, 24, 52)), _T["kidney_right"]),
        (E((0, -45, 45), (42, 36, 32)), _T["bladder"]),
        # skeleton: thoraco-lumbar and cervical spine, iliac bones; marrow inside the cortex
        (C((0, 80), (22, 20), (20, 465)), _T["cortical_bone"]),
        (C((0, 80), (18, 16), (22, 463)), _T["red_marrow"]),
        (C((0, 35), (14, 12), (465, 560)), _T["cortical_bone"]),
        (C((0, 35), (10, 8), (467, 558)), _T["red_marrow"]),
        (E((95, 45, 70), (40, 22, 50)), _T["cortical_bone"]),
        (E((95, 45, 70), (34, 16, 44)), _T["red_marrow"]),
        (E((-95, 45, 70), (40, 22, 50)), _T["cortical_bone"]),
        (E((-95, 45, 70), (34, 16, 44)), _T["red_marrow"]),
        # salivary glands
        (E((50, 12, 585), (11, 20, 22)), _T["parotid_left"]),
        (E((-50, 12, 585), (11, 20, 22)), _T["parotid_right"]),
        (E((32, -28, 550), (11, 13, 12)), _T["submandibular_left"]),
        (E((-32, -28, 550), (11, 13, 12)), _T["submandibular_right"]),
    ]
    return paint


@dataclass(frozen=True)
class Lesion:
    """A lesion: its structure name (``lesion_01``), host (``bone``, ``node``, ``liver``)
    and shape."""

    name: str
    host: str
    shape: Ellipsoid

    @property
    def label(self) -> int:
        return LESION_LABEL_BASE + int(self.name.rsplit("_", 1)[1])


@dataclass(frozen=True)
class Anatomy:
    """Tissue classes and the painting list of one phantom (body plus its lesions)."""

    tissues: tuple[Tissue, ...]
    paint: tuple[tuple[Shape, int], ...]
    lesions: tuple[Lesion, ...] = field(default_factory=tuple)

    @property
    def structure_labels(self) -> dict[str, int]:
        """``{structure name: label value}`` of every structure present."""
        labels = dict(ORGAN_LABELS)
        for lesion in self.lesions:
            labels[lesion.name] = lesion.label
        return labels

    def lookup(self, attribute: str) -> np.ndarray:
        """Per-class lookup table of ``"hu"``, ``"density_g_per_mL"`` or ``"label"``."""
        if attribute == "label":
            labels = self.structure_labels
            return np.array(
                [labels.get(t.structure, 0) if t.structure else 0 for t in self.tissues],
                dtype=np.uint16,
            )
        return np.array([getattr(t, attribute) for t in self.tissues], dtype=np.float64)


def base_anatomy() -> Anatomy:
    """The body without lesions."""
    return Anatomy(BASE_TISSUES, tuple(_base_paint()))


def with_lesions(anatomy: Anatomy, lesions: list[Lesion]) -> Anatomy:
    """``anatomy`` with lesion tissues appended and painted last."""
    tissues = list(anatomy.tissues)
    paint = list(anatomy.paint)
    for lesion in lesions:
        hu, rho = LESION_TISSUE[lesion.host]
        tissues.append(Tissue(lesion.name, lesion.name, hu, rho))
        paint.append((lesion.shape, len(tissues) - 1))
    return Anatomy(tuple(tissues), tuple(paint), tuple(anatomy.lesions) + tuple(lesions))


def classify_points(anatomy: Anatomy, pts: np.ndarray) -> np.ndarray:
    """Tissue class index of each LPS point (N, 3) in the reference pose."""
    out = np.zeros(len(pts), dtype=np.uint8)
    for shape, cls in anatomy.paint:
        out[shape.contains(pts)] = cls
    return out


def rasterize(anatomy: Anatomy, grid: Grid, transform: RigidTransform | None = None) -> np.ndarray:
    """Tissue class of every voxel centre of ``grid`` (array ``[k, j, i]``, uint8).

    ``transform`` is the patient's pose on the scanner (reference -> scanner); each voxel
    centre is mapped back to the reference pose and classified there.
    """
    if len(anatomy.tissues) > 255:
        raise ValueError("too many tissue classes for uint8")
    out = np.zeros(grid.shape_kji, dtype=np.uint8)
    origin = np.asarray(grid.origin_mm)
    spacing = np.asarray(grid.spacing_mm)
    size = np.asarray(grid.size)
    for shape, cls in anatomy.paint:
        lo, hi = shape.bbox()
        if transform is not None and not transform.is_identity:
            corners = np.array(
                [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
            )
            moved = transform.forward(corners)
            lo, hi = moved.min(axis=0), moved.max(axis=0)
        i0 = np.clip(np.floor((lo - origin) / spacing).astype(int), 0, size)
        i1 = np.clip(np.ceil((hi - origin) / spacing).astype(int) + 1, 0, size)
        if np.any(i1 <= i0):
            continue
        xs = origin[0] + spacing[0] * np.arange(i0[0], i1[0])
        ys = origin[1] + spacing[1] * np.arange(i0[1], i1[1])
        zs = origin[2] + spacing[2] * np.arange(i0[2], i1[2])
        zz, yy, xx = np.meshgrid(zs, ys, xs, indexing="ij")
        pts = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
        if transform is not None and not transform.is_identity:
            pts = transform.inverse(pts)
        inside = shape.contains(pts).reshape(zz.shape)
        block = out[i0[2] : i1[2], i0[1] : i1[1], i0[0] : i1[0]]
        block[inside] = cls
    return out
