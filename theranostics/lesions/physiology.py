"""Recognition of physiological uptake among lesion candidates, per tracer family, from the
PET/CT itself (no trained model) or from organ masks made elsewhere.

Every candidate (a region grown from a maximum, :mod:`.growing`) is described by
:class:`CandidateFeatures` (position relative to the CT landmarks of
:func:`.organs_ct.ct_anatomy`, CT number and bone fraction of its hot core, volume, the uptake
at its mirror image across the spine) and labelled by the first rule of its tracer family
that fits (:data:`RULES`); the rules and their reasons are listed in docs/lesions.md. A
labelled candidate is *physiological* and left out of the lesion totals; it stays in the
output with its organ, rule and reason, and an include seed moves it back.

Tracer families (:func:`tracer_family`): ``psma`` (PSMA-11, -617, -1007, DCFPyL, rhPSMA...),
``sstr`` (DOTATATE, DOTATOC, DOTANOC, other somatostatin-receptor ligands), ``fdg``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import InputError
from .organs_ct import CTAnatomy

#: Organs with physiological uptake of each tracer family (the issue's reading lists: PSMA
#: Afshar-Oromieh A et al. Eur J Nucl Med Mol Imaging 2013;40:486-495 and Fendler WP et al.
#: EJNMMI 2017;44:1014-1024; SSTR Hofman MS et al. RadioGraphics 2015;35:500-516; FDG
#: Boellaard R et al. EJNMMI 2015;42:328-354).
FAMILY_ORGANS = {
    "psma": ("lacrimal", "salivary", "kidney", "bladder", "liver", "spleen", "bowel"),
    "sstr": ("pituitary", "salivary", "spleen", "kidney", "adrenal", "liver", "bladder"),
    "fdg": ("brain", "myocardium", "kidney", "bladder"),
}
TRACER_FAMILIES = tuple(FAMILY_ORGANS)
_FAMILY_WORDS = {
    "psma": ("psma", "dcfpyl", "pylarify", "piflufolastat", "gozetotide", "vipivotide"),
    "sstr": ("dotatate", "dotatoc", "dotanoc", "dota-tate", "dota-toc", "edotreotide", "sstr",
             "oxodotreotide", "octreotide", "satoreotide", "somatostatin"),
    "fdg": ("fdg", "fluorodeoxyglucose", "fludeoxyglucose"),
}  # fmt: skip
#: Imported-mask names (fragments) that mean each organ of :data:`FAMILY_ORGANS`.
_MASK_WORDS = {
    "lacrimal": ("lacrimal",),
    "salivary": ("parotid", "submandibular", "sublingual", "salivary"),
    "kidney": ("kidney", "renal"),
    "bladder": ("bladder",),
    "liver": ("liver",),
    "spleen": ("spleen",),
    "bowel": ("bowel", "intestine", "colon", "duodenum", "stomach", "rectum"),
    "pituitary": ("pituitary", "hypophysis"),
    "adrenal": ("adrenal",),
    "brain": ("brain",),
    "myocardium": ("heart", "myocardium", "myocardial"),
}
#: Organs whose imported mask can hold focal lesions: a candidate is the organ only when it
#: covers at least this fraction of the mask (diffuse uptake), otherwise it is a lesion.
ORGAN_WIDE = {"liver": 0.25, "spleen": 0.25, "brain": 0.25}
#: Radius (mm) searched around a candidate's mirror image for its partner's uptake (two
#: voxels of a 9.6 mm PET: the pose of the patient is not exactly symmetric).
MIRROR_RADIUS_MM = 20.0
#: A candidate is "paired" when the uptake at its mirror image reaches this fraction of its
#: own maximum (physiological organs are bilateral and symmetric; lesions rarely are).
MIRROR_RATIO = 0.6


def tracer_family(tracer: str | None, radiopharmaceutical: str | None) -> str | None:
    """``"psma"``, ``"sstr"``, ``"fdg"`` or ``None`` (recognition off): ``tracer`` when it is
    one of :data:`TRACER_FAMILIES` (or ``"none"``), otherwise from the radiopharmaceutical's
    name when ``tracer`` is ``"auto"``/``None``.

    Raises:
        InputError: an unknown ``tracer``.
    """
    if tracer not in (None, "auto"):
        if tracer == "none":
            return None
        if tracer not in TRACER_FAMILIES:
            raise InputError(
                f"unknown tracer family {tracer!r}",
                tag="tracer",
                fix=f"use auto, none or one of {', '.join(TRACER_FAMILIES)}",
            )
        return tracer
    name = (radiopharmaceutical or "").lower()
    for family, words in _FAMILY_WORDS.items():
        if any(w in name for w in words):
            return family
    return None


@dataclass(frozen=True)
class CandidateFeatures:
    """What the rules look at, for one candidate (LPS mm; uptake in the segmentation unit).

    Attributes:
        label: candidate label in the candidate label map.
        volume_mL, max_value: grown region's volume and maximum.
        peak_lps_mm, centroid_lps_mm: hottest voxel and centroid.
        extent_mm: bounding-box size (x, y, z).
        core_hu: median CT number of the core (voxels >= 70 % of the maximum), NaN without CT.
        core_bone_fraction: fraction of the core in CT bone.
        core_liver_fraction: fraction of the core in the CT liver.
        liver_coverage: region volume / liver volume (0 without liver).
        core_cavity_fraction: fraction of the core inside the cranial cavity.
        mirror_ratio: highest uptake within 20 mm of the mirror image of the peak (across
            the spine's x, else the midline) over the candidate's maximum.
        gas_voxels_near: CT voxels below -300 HU, in the body and outside the lungs, within
            10 mm of the region (bowel gas).
    """

    label: int
    volume_mL: float
    max_value: float
    peak_lps_mm: tuple[float, float, float]
    centroid_lps_mm: tuple[float, float, float]
    extent_mm: tuple[float, float, float]
    core_hu: float
    core_bone_fraction: float
    core_liver_fraction: float
    liver_coverage: float
    core_cavity_fraction: float
    mirror_ratio: float
    gas_voxels_near: int

    def to_json(self) -> dict:
        """A JSON-ready dict (rounded)."""
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, float):
                out[key] = None if not np.isfinite(value) else round(value, 3)
            elif isinstance(value, tuple):
                out[key] = [round(float(v), 1) for v in value]
            else:
                out[key] = value
        return out


@dataclass(frozen=True)
class Landmarks:
    """The CT landmarks the rules compare candidates with (LPS mm), see
    :class:`.organs_ct.CTAnatomy`."""

    midline_x_mm: float
    lung_apex_z_mm: float | None
    lung_base_z_mm: float | None
    lung_base_left_z_mm: float | None
    pelvis_top_z_mm: float | None
    cavity_z_mm: tuple[float, float] | None
    anatomy: CTAnatomy

    @classmethod
    def from_anatomy(cls, anatomy: CTAnatomy) -> Landmarks:
        bases = anatomy.lung_base_z_mm
        cavity = None
        if anatomy.cranial_cavity.any():
            z = anatomy.spine_z_mm
            rows = np.nonzero(anatomy.cranial_cavity.any(axis=(1, 2)))[0]
            cavity = (float(z[rows.min()]), float(z[rows.max()]))
        return cls(
            midline_x_mm=anatomy.midline_x_mm,
            lung_apex_z_mm=anatomy.lung_apex_z_mm,
            lung_base_z_mm=min(bases.values()) if bases else None,
            lung_base_left_z_mm=bases.get("left"),
            pelvis_top_z_mm=anatomy.pelvis_top_z_mm,
            cavity_z_mm=cavity,
            anatomy=anatomy,
        )

    def axis_x(self, z_mm: float) -> float:
        """x of the body's axis at ``z_mm``: the spine centre, else the midline."""
        spine = self.anatomy.spine_at(z_mm)
        return spine[0] if spine else self.midline_x_mm

    def spine_y(self, z_mm: float) -> float | None:
        spine = self.anatomy.spine_at(z_mm)
        return spine[1] if spine else None


# --- rules ----------------------------------------------------------------------------
# Each rule: (features, landmarks) -> (organ, reason) or None. Distances in mm.


def _soft(f: CandidateFeatures) -> bool:
    """Soft tissue outside bone and outside the CT liver (a hot spot in the liver is a liver
    lesion, not a neighbouring organ)."""
    return (
        f.core_bone_fraction < 0.3
        and f.core_liver_fraction < 0.5
        and np.isfinite(f.core_hu)
        and -60.0 <= f.core_hu <= 150.0
    )


def rule_bladder(f: CandidateFeatures, m: Landmarks):
    """Caudal midline pelvic fluid: the bladder (urinary excretion of all three families)."""
    if m.pelvis_top_z_mm is None:
        return None
    x, y, z = f.centroid_lps_mm
    dx = abs(x - m.midline_x_mm)
    spine_y = m.spine_y(z)
    anterior = spine_y is None or y < spine_y - 20.0
    if (
        z <= m.pelvis_top_z_mm
        and dx <= 45.0
        and anterior
        and np.isfinite(f.core_hu)
        and -30.0 <= f.core_hu <= 30.0
        and f.core_bone_fraction < 0.3
        and f.core_liver_fraction < 0.5
        and f.volume_mL >= 5.0
    ):
        return "bladder", (
            f"below the iliac crests ({z:.0f} <= {m.pelvis_top_z_mm:.0f} mm), {dx:.0f} mm "
            f"from the midline, anterior to the sacrum, fluid density ({f.core_hu:.0f} HU)"
        )
    return None


def rule_kidney(f: CandidateFeatures, m: Landmarks):
    """Paired paravertebral soft-tissue uptake below the lung bases: a kidney."""
    if m.lung_base_z_mm is None:
        return None
    x, y, z = f.centroid_lps_mm
    axis = m.axis_x(z)
    dx = x - axis
    spine_y = m.spine_y(z)
    below = m.lung_base_z_mm - 230.0 <= z <= m.lung_base_z_mm - 20.0
    beside = 45.0 <= abs(dx) <= 115.0
    depth = spine_y is not None and spine_y - 50.0 <= y <= spine_y + 40.0
    if not (below and beside and depth and _soft(f)):
        return None
    paired = f.mirror_ratio >= MIRROR_RATIO
    if not (paired or f.volume_mL >= 30.0):
        return None
    side = "left" if dx > 0 else "right"
    why = "paired with uptake at its mirror image" if paired else f"{f.volume_mL:.0f} mL"
    return f"kidney_{side}", (
        f"{abs(dx):.0f} mm {side} of the spine at its depth, {m.lung_base_z_mm - z:.0f} mm "
        f"below the lung bases, soft tissue ({f.core_hu:.0f} HU), {why}"
    )


def rule_spleen(f: CandidateFeatures, m: Landmarks):
    """Unpaired (or larger than a kidney) left upper-abdominal soft-tissue uptake peaking
    just under the left lung base: the spleen (the kidneys' centres lie lower, and kidneys
    are paired)."""
    base = m.lung_base_left_z_mm
    if base is None:
        return None
    x, _, z = f.peak_lps_mm
    dx = x - m.axis_x(z)
    if (
        base - 60.0 <= z <= base + 30.0
        and dx >= 60.0
        and f.volume_mL >= 20.0
        and (f.mirror_ratio < MIRROR_RATIO or f.volume_mL >= 250.0)
        and _soft(f)
    ):
        why = "unpaired" if f.mirror_ratio < MIRROR_RATIO else "larger than a kidney"
        return "spleen", (
            f"hottest voxel {dx:.0f} mm left of the spine, {base - z:.0f} mm below the left "
            f"lung base (higher than a kidney's), {why}, {f.volume_mL:.0f} mL soft tissue"
        )
    return None


def rule_liver(f: CandidateFeatures, m: Landmarks):
    """Diffuse uptake filling much of the CT liver (a focal hot spot in it is a lesion)."""
    if f.core_liver_fraction >= 0.5 and f.liver_coverage >= ORGAN_WIDE["liver"]:
        return "liver", (
            f"core {100 * f.core_liver_fraction:.0f} % in the CT liver, region "
            f"{100 * f.liver_coverage:.0f} % of its volume (diffuse organ uptake)"
        )
    return None


def _head_neck(f: CandidateFeatures, m: Landmarks) -> bool:
    return m.lung_apex_z_mm is not None and f.centroid_lps_mm[2] > m.lung_apex_z_mm + 20.0


def rule_salivary(f: CandidateFeatures, m: Landmarks):
    """Symmetric paired head-neck uptake: salivary glands (lacrimal glands when inside the
    orbit level of the cranial cavity and anterior)."""
    if not _head_neck(f, m) or f.core_bone_fraction >= 0.5:
        return None
    x, y, z = f.centroid_lps_mm
    axis = m.axis_x(z)
    dx = x - axis
    if abs(dx) < 15.0 or f.mirror_ratio < MIRROR_RATIO:
        return None
    side = "left" if dx > 0 else "right"
    spine_y = m.spine_y(z)
    if m.cavity_z_mm is not None and z >= m.cavity_z_mm[0] + 10.0:
        organ = f"lacrimal_{side}"
    elif spine_y is None or y >= spine_y - 40.0:
        organ = f"parotid_{side}"
    else:
        organ = f"submandibular_{side}"
    return organ, (
        f"head-neck ({z - m.lung_apex_z_mm:.0f} mm above the lung apices), {abs(dx):.0f} mm "
        f"{side} of the midline, paired (mirror uptake {100 * f.mirror_ratio:.0f} % of its "
        "maximum)"
    )


def rule_adrenal(f: CandidateFeatures, m: Landmarks):
    """Small paired soft-tissue uptake beside the spine just below the lung bases: adrenals
    (they lie above and medial to the kidneys)."""
    if m.lung_base_z_mm is None:
        return None
    x, y, z = f.centroid_lps_mm
    dx = x - m.axis_x(z)
    spine_y = m.spine_y(z)
    if (
        m.lung_base_z_mm - 90.0 <= z <= m.lung_base_z_mm + 20.0
        and 20.0 <= abs(dx) <= 70.0
        and spine_y is not None
        and spine_y - 70.0 <= y <= spine_y + 10.0
        and f.volume_mL <= 20.0
        and f.mirror_ratio >= MIRROR_RATIO
        and _soft(f)
    ):
        side = "left" if dx > 0 else "right"
        return f"adrenal_{side}", (
            f"{abs(dx):.0f} mm {side} of the spine near the lung bases, small "
            f"({f.volume_mL:.1f} mL), paired (mirror uptake {100 * f.mirror_ratio:.0f} %)"
        )
    return None


def rule_pituitary(f: CandidateFeatures, m: Landmarks):
    """Small midline uptake in the lower cranial cavity: the pituitary (sella turcica)."""
    if m.cavity_z_mm is None:
        return None
    x, _, z = f.centroid_lps_mm
    low, high = m.cavity_z_mm
    if (
        abs(x - m.midline_x_mm) <= 15.0
        and low - 20.0 <= z <= low + 0.4 * (high - low)
        and f.volume_mL <= 10.0
    ):
        return "pituitary", (
            f"midline, {z - low:.0f} mm above the floor of the cranial cavity, {f.volume_mL:.1f} mL"
        )
    return None


def rule_brain(f: CandidateFeatures, m: Landmarks):
    """Uptake filling the cranial cavity: the brain (FDG)."""
    if f.core_cavity_fraction >= 0.5 and f.volume_mL >= 100.0:
        return "brain", f"core {100 * f.core_cavity_fraction:.0f} % in the cranial cavity"
    return None


def rule_myocardium(f: CandidateFeatures, m: Landmarks):
    """Large soft-tissue uptake between the lungs, anterior and left of the spine: the
    myocardium (FDG)."""
    if m.lung_base_z_mm is None or m.lung_apex_z_mm is None:
        return None
    x, y, z = f.centroid_lps_mm
    spine_y = m.spine_y(z)
    if (
        m.lung_base_z_mm - 20.0
        <= z
        <= m.lung_base_z_mm + 0.6 * (m.lung_apex_z_mm - m.lung_base_z_mm)
        and -20.0 <= x - m.midline_x_mm <= 90.0
        and (spine_y is None or y < spine_y - 30.0)
        and f.volume_mL >= 40.0
        and min(f.extent_mm[:2]) >= 40.0
        and _soft(f)
    ):
        return "myocardium", (
            f"between the lungs, anterior and left of the spine, {f.volume_mL:.0f} mL, "
            f"{f.extent_mm[0]:.0f} x {f.extent_mm[1]:.0f} mm"
        )
    return None


def rule_bowel(f: CandidateFeatures, m: Landmarks):
    """Abdominal uptake next to gas: bowel."""
    if m.lung_base_z_mm is None:
        return None
    z = f.centroid_lps_mm[2]
    low = m.pelvis_top_z_mm - 100.0 if m.pelvis_top_z_mm is not None else -np.inf
    if low <= z <= m.lung_base_z_mm and f.gas_voxels_near >= 3 and _soft(f):
        return "bowel", f"abdominal soft tissue next to gas ({f.gas_voxels_near} voxels < -300 HU)"
    return None


#: Rules per tracer family, in the order they are tried (most specific first).
RULES = {
    "psma": (rule_bladder, rule_salivary, rule_spleen, rule_kidney, rule_liver, rule_bowel),
    "sstr": (rule_bladder, rule_pituitary, rule_salivary, rule_adrenal, rule_spleen,
             rule_kidney, rule_liver),
    "fdg": (rule_bladder, rule_brain, rule_myocardium, rule_kidney),
}  # fmt: skip


def classify(f: CandidateFeatures, m: Landmarks, family: str):
    """``(organ, rule name, reason)`` of the first rule of ``family`` that fits, or None."""
    for rule in RULES[family]:
        hit = rule(f, m)
        if hit:
            return hit[0], rule.__name__.removeprefix("rule_"), hit[1]
    return None


def mask_organ_of(name: str, family: str) -> str | None:
    """The :data:`FAMILY_ORGANS` organ an imported mask name stands for, or None."""
    lower = name.lower()
    for organ in FAMILY_ORGANS[family]:
        if organ == "kidney" and "adrenal" in lower:  # "adrenal" contains "renal"
            continue
        if any(w in lower for w in _MASK_WORDS[organ]):
            return organ
    return None


# --- features ---------------------------------------------------------------------------


def on_grid(array: np.ndarray, source: sitk.Image, reference: sitk.Image, *, default=0.0):
    """A ``[k, j, i]`` array on ``source``'s grid resampled (linear) onto ``reference``."""
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.CopyInformation(source)
    out = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, float(default))
    return sitk.GetArrayFromImage(out)


def _mm(reference: sitk.Image, index_kji) -> tuple[float, float, float]:
    k, j, i = (float(v) for v in index_kji)
    return tuple(float(c) for c in reference.TransformContinuousIndexToPhysicalPoint((i, j, k)))


def candidate_features(
    values: np.ndarray,
    labels: np.ndarray,
    reference: sitk.Image,
    landmarks: Landmarks | None,
    ct_hu: np.ndarray | None,
    bone: np.ndarray | None,
    liver: np.ndarray | None,
    cavity: np.ndarray | None,
    gas: np.ndarray | None,
) -> list[CandidateFeatures]:
    """Features of every candidate label of ``labels`` (arrays on the PET grid; the CT
    derived ones may be None)."""
    spacing = np.array(reference.GetSpacing())
    voxel_mL = float(np.prod(spacing)) / 1000.0
    liver_voxels = float(liver.sum()) if liver is not None else 0.0
    boxes = ndimage.find_objects(labels)
    out = []
    pad = [int(np.ceil(10.0 / s)) for s in spacing[::-1]]
    for label, box in enumerate(boxes, start=1):
        if box is None:
            continue
        region = labels[box] == label
        v = values[box]
        peak = np.unravel_index(int(np.argmax(np.where(region, v, -np.inf))), region.shape)
        peak_value = float(v[peak])
        core = region & (v >= 0.7 * peak_value)
        index = [int(p + b.start) for p, b in zip(peak, box)]
        where = np.argwhere(region) + [b.start for b in box]
        centroid = where.mean(axis=0)
        extent = (where.max(axis=0) - where.min(axis=0) + 1) * spacing[::-1]

        def frac(mask, box=box, core=core):
            return float(mask[box][core].mean()) if mask is not None else 0.0

        core_hu = float(np.median(ct_hu[box][core])) if ct_hu is not None else float("nan")
        mirror = float("nan")
        gas_near = 0
        peak_mm = _mm(reference, index)
        if landmarks is not None:
            axis = landmarks.axis_x(peak_mm[2])
            mirrored = (2 * axis - peak_mm[0], peak_mm[1], peak_mm[2])
            mirror = _max_near(values, reference, mirrored, MIRROR_RADIUS_MM, region, box)
            mirror /= peak_value if peak_value > 0 else 1.0
        if gas is not None:
            big = tuple(
                slice(max(0, b.start - p), min(n, b.stop + p))
                for b, p, n in zip(box, pad, labels.shape)
            )
            near = ndimage.binary_dilation(labels[big] == label, iterations=max(pad))
            gas_near = int(np.count_nonzero(gas[big] & near))
        out.append(
            CandidateFeatures(
                label=label,
                volume_mL=float(region.sum()) * voxel_mL,
                max_value=peak_value,
                peak_lps_mm=peak_mm,
                centroid_lps_mm=_mm(reference, centroid),
                extent_mm=tuple(float(e) for e in extent[::-1]),
                core_hu=core_hu,
                core_bone_fraction=frac(bone),
                core_liver_fraction=frac(liver),
                liver_coverage=float(region.sum()) / liver_voxels if liver_voxels else 0.0,
                core_cavity_fraction=frac(cavity),
                mirror_ratio=mirror,
                gas_voxels_near=gas_near,
            )
        )
    return out


def _max_near(values, reference, point_mm, radius_mm, region, box) -> float:
    """Highest value within ``radius_mm`` of ``point_mm``, outside the candidate itself."""
    centre = np.array(reference.TransformPhysicalPointToContinuousIndex(point_mm))[::-1]
    spacing = np.array(reference.GetSpacing())[::-1]
    half = np.ceil(radius_mm / spacing).astype(int)
    lo = np.maximum(np.floor(centre - half).astype(int), 0)
    hi = np.minimum(np.ceil(centre + half).astype(int) + 1, values.shape)
    if np.any(hi <= lo):
        return 0.0
    sub = tuple(slice(a, b) for a, b in zip(lo, hi))
    k, j, i = np.indices(values[sub].shape)
    d2 = sum(((g + a - c) * s) ** 2 for g, a, c, s in zip((k, j, i), lo, centre, spacing))
    ok = d2 <= radius_mm**2
    own = np.zeros(values.shape, dtype=bool)
    own[box] = region
    ok &= ~own[sub]
    return float(values[sub][ok].max()) if ok.any() else 0.0
