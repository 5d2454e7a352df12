"""Lesion detection with physiological uptake recognised: candidates from the per-lesion
segmentation, the detection floor from the liver or blood-pool reference, and every candidate
labelled a lesion or an organ (:mod:`.physiology`).

1. **Anatomy.** With a CT: :func:`.organs_ct.ct_anatomy` (body, lungs, bone, spine line,
   lung apex and bases, iliac crests, cranial cavity, liver). The CT must overlap the PET
   (:class:`~theranostics.errors.GeometryError` otherwise); CT voxels are carried to the PET
   grid with linear interpolation in LPS (same frame of reference, no registration).
2. **Detection floor** (the least maximum a candidate needs), PERCIST-style (Wahl RL et al.
   J Nucl Med 2009;50(Suppl 1):122S-150S): 1.5 × liver mean + 2 SD in a 3 cm sphere when a
   liver is found and its uptake is at least the blood pool's; otherwise 2 × blood-pool mean
   + 2 SD (PERCIST's alternative for an abnormal liver; the blood pool is a 2 cm sphere in
   the mediastinal soft tissue between the lungs); with neither, the fixed SUVbw 3 and a
   note. A ``threshold`` given by the user wins.
3. **Candidates**: :func:`.segmentation.segment_lesions` without exclusion masks, so every
   hot region keeps its own maximum, watershed basin and threshold (a lesion touching a
   kidney is not cut by the kidney's mask, nor absorbed by it).
4. **Labels**: organ masks (imported, e.g. TotalSegmentator) when given, otherwise the CT
   rules of the tracer family; candidates holding an include seed stay lesions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import GeometryError, InputError
from ..image import QuantitativeImage, overlap_fraction
from ..progress import ProgressCallback, report
from .exclusion import mask_on_grid
from .organs_ct import CTAnatomy, ct_anatomy
from .physiology import (
    ORGAN_WIDE,
    Landmarks,
    candidate_features,
    classify,
    mask_organ_of,
    on_grid,
    tracer_family,
)
from .quantity import uptake
from .segmentation import DEFAULT_SUV_THRESHOLD, LesionSegmentation, segment_lesions
from .thresholds import LiverReference, liver_reference

#: Smallest prominence of a lesion maximum, in noise SDs of the reference region.
NOISE_SDS = 5.0
#: Blood-pool reference sphere diameter (mm); PERCIST's is a 1 × 2 cm cylinder in the aorta.
BLOOD_POOL_DIAMETER_MM = 20.0


@dataclass(frozen=True)
class PhysiologicalCandidate:
    """A candidate labelled physiological uptake.

    Attributes:
        name: ``physiological_001`` ... (label n in ``LesionDetection.physiological_labels``).
        organ: organ it most likely is (``kidney_left``, ``bladder``, ...).
        rule: the rule (or ``mask``) that labelled it.
        reason: why, in words.
        features: the :class:`~.physiology.CandidateFeatures` as JSON.
        include_seed_lps_mm: a point (its hottest voxel) to pass as an include seed to
            report it as a lesion instead.
    """

    name: str
    organ: str
    rule: str
    reason: str
    features: dict
    include_seed_lps_mm: tuple[float, float, float]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "organ": self.organ,
            "rule": self.rule,
            "reason": self.reason,
            "include_seed_lps_mm": [round(c, 1) for c in self.include_seed_lps_mm],
            "volume_mL": self.features.get("volume_mL"),
            "max": self.features.get("max_value"),
            "features": self.features,
        }


@dataclass(frozen=True)
class LesionDetection:
    """Lesions (a :class:`LesionSegmentation` of the lesions only) and the candidates set
    aside as physiological uptake.

    Attributes:
        lesions: the lesions (biomarkers, SEG and SR use this).
        physiological: the physiological candidates, label n = ``physiological[n - 1]``.
        physiological_labels: uint16 label map of them on the image grid.
        tracer_family: ``psma``, ``sstr``, ``fdg`` or None (recognition off).
        organ_source: what labelled the organs, in words (``"CT anatomy rules"``,
            ``"organ masks (FILE)"``, ``"none: ..."``).
        floor: the detection floor and where it came from (``value``, ``unit``, ``source``,
            ``liver_reference``, ``blood_pool_reference``).
        anatomy: the CT landmarks (JSON) or None.
        notes: what happened, in words.
    """

    lesions: LesionSegmentation
    physiological: tuple[PhysiologicalCandidate, ...]
    physiological_labels: sitk.Image
    tracer_family: str | None
    organ_source: str
    floor: dict
    anatomy: dict | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """JSON-ready summary (no voxels)."""
        return {
            "tracer_family": self.tracer_family,
            "organ_source": self.organ_source,
            "floor": self.floor,
            "physiological": [p.to_json() for p in self.physiological],
            "physiological_organs": sorted({p.organ for p in self.physiological}),
            "anatomy": self.anatomy,
            "notes": list(self.notes),
        }


def _mediastinum(anatomy: CTAnatomy) -> np.ndarray:
    """Soft tissue between the lungs (blood pool of the heart and great vessels), in the
    middle 60 % of the lungs' height."""
    left, right = anatomy.lung_left, anatomy.lung_right
    out = np.zeros(left.shape, dtype=bool)
    if not (left.any() and right.any()):
        return out
    z = anatomy.spine_z_mm
    rows = np.nonzero((left | right).any(axis=(1, 2)))[0]
    lo, hi = z[rows.min()], z[rows.max()]
    x = np.array([anatomy.grid.TransformIndexToPhysicalPoint((i, 0, 0))[0]
                  for i in range(left.shape[2])])  # fmt: skip
    soft = anatomy.body & ~anatomy.bone & ~left & ~right
    for k in np.nonzero((z >= lo + 0.2 * (hi - lo)) & (z <= lo + 0.8 * (hi - lo)))[0]:
        if not (left[k].any() and right[k].any()):
            continue
        medial_right = x[np.nonzero(right[k].any(axis=0))[0]].max()
        medial_left = x[np.nonzero(left[k].any(axis=0))[0]].min()
        if medial_left <= medial_right:
            continue
        rows_l = np.nonzero((left[k] | right[k]).any(axis=1))[0]
        band = np.zeros(left[k].shape, dtype=bool)
        band[rows_l.min() : rows_l.max() + 1, :] = True
        between = (x > medial_right) & (x < medial_left)
        out[k] = soft[k] & band & between[None, :]
    return out


def _reference(values, mask, reference, unit, diameter_mm) -> LiverReference | None:
    """The reference sphere in the normal part of ``mask``: eroded by one voxel (spill from
    neighbours) and without uptake outliers (above median + 3 robust SD: lesions)."""
    if mask is None or not mask.any():
        return None
    eroded = ndimage.binary_erosion(mask, iterations=1)
    mask = eroded if eroded.sum() >= 20 else mask
    inside = values[mask]
    median = float(np.median(inside))
    sd = 1.4826 * float(np.median(np.abs(inside - median)))
    normal = mask & (values <= median + 3.0 * sd)
    mask = normal if normal.sum() >= 20 else mask
    try:
        return liver_reference(values, mask, reference, unit, diameter_mm=diameter_mm)
    except InputError:
        return None


def choose_floor(values, reference, unit, liver, blood, threshold, notes) -> dict:
    """The detection floor (see the module docstring, step 2)."""
    liver_ref = _reference(values, liver, reference, unit, 30.0)
    blood_ref = _reference(values, blood, reference, unit, BLOOD_POOL_DIAMETER_MM)
    out = {
        "unit": unit,
        "liver_reference": liver_ref.to_json() if liver_ref else None,
        "blood_pool_reference": None,
    }
    if blood_ref:
        out["blood_pool_reference"] = {
            **blood_ref.to_json(),
            "threshold": 2.0 * blood_ref.mean + 2.0 * blood_ref.sd,
        }
    if threshold is not None:
        out.update(value=float(threshold), source="given")
    elif unit != "SUVbw":
        raise InputError(
            f"the detection floor in {unit} needs a threshold",
            tag="threshold",
            fix="give threshold= (CLI --threshold) in Bq/mL: the least maximum of a lesion",
        )
    else:
        _reference_floor(out, liver_ref, blood_ref, notes)
        notes.append(f"detection floor {out['value']:.3g} {unit}: {out['source']}")
    # Prominence of a lesion maximum: floor / 3 (as segment_lesions), but at least 5 voxel
    # noise SDs of the blood pool (else the liver), so that noise bumps of a low floor are not
    # lesions (the highest of a million Gaussian noise voxels is about 5 SDs above the mean,
    # and a bump's saddle is not below the mean).
    region = blood if blood is not None and blood.any() else liver
    noise = voxel_noise_sd(values, region) if region is not None else 0.0
    out["voxel_noise_sd"] = noise
    out["prominence"] = max(out["value"] / 3.0, NOISE_SDS * noise)
    out["prominence_rule"] = f"max(floor / 3, {NOISE_SDS:g} x voxel noise SD {noise:.3g})"
    return out


def voxel_noise_sd(values: np.ndarray, mask: np.ndarray) -> float:
    """Voxel noise SD inside ``mask``: 1.4826 × the median absolute difference between
    neighbouring voxels (both in the mask, along each axis) / √2. Differences remove the
    smooth uptake; the median makes it blind to edges. Uncorrelated noise assumed (a
    reconstruction that correlates neighbours lowers the estimate)."""
    if mask is None or not mask.any():
        return 0.0
    diffs = []
    for axis in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        both = mask[tuple(a)] & mask[tuple(b)]
        diffs.append((values[tuple(a)] - values[tuple(b)])[both])
    d = np.concatenate(diffs)
    if d.size < 20:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def _reference_floor(out, liver_ref, blood_ref, notes) -> None:
    options = []
    if liver_ref:
        options.append((liver_ref.threshold, "PERCIST liver: 1.5 x mean + 2 SD"))
    if blood_ref:
        options.append((out["blood_pool_reference"]["threshold"],
                        "PERCIST blood pool: 2 x mean + 2 SD"))  # fmt: skip
    if options:
        value, source = min(options)
        if len(options) == 2:
            source += " (the lower of the liver and blood-pool thresholds)"
        elif not liver_ref:
            source += " (no liver found)"
        else:
            source += " (no blood pool found)"
        out.update(value=float(value), source=source)
    else:
        out.update(value=DEFAULT_SUV_THRESHOLD, source="fixed SUVbw 3 (no liver or blood pool)")
        notes.append(
            "detection floor: fixed SUVbw 3, no liver or blood-pool reference was found "
            "(give a CT of the PET/CT, or a liver mask)"
        )


def detect_lesions(
    image: QuantitativeImage,
    ct: QuantitativeImage | sitk.Image | None = None,
    *,
    organ_masks: dict[str, sitk.Image] | None = None,
    organ_masks_source: str = "organ masks",
    tracer: str | None = "auto",
    method: str = "percent-max",
    threshold: float | None = None,
    percent: float | None = None,
    prominence: float | None = None,
    min_volume_mL: float = 1.0,
    include_seeds_lps: Sequence[Sequence[float]] = (),
    exclude_seeds_lps: Sequence[Sequence[float]] = (),
    quantity: str = "auto",
    progress: ProgressCallback | None = None,
) -> LesionDetection:
    """Lesions of a PET (or quantitative SPECT) with physiological uptake set aside.

    Args:
        image: the emission image.
        ct: the CT of the same session (same frame of reference), or None.
        organ_masks: organ masks made elsewhere (label map, SEG, RTSTRUCT, TotalSegmentator
            output; any grid): used instead of the CT rules to label candidates.
        organ_masks_source: how to name them in the output.
        tracer: ``"auto"`` (from the radiopharmaceutical), ``"psma"``, ``"sstr"``,
            ``"fdg"`` or ``"none"`` (no recognition).
        method, threshold, percent, prominence, min_volume_mL, quantity: as
            :func:`.segmentation.segment_lesions`; ``threshold`` is the detection floor
            (default: the liver/blood-pool reference, see the module docstring).
        include_seeds_lps: points (LPS mm) whose candidate is a lesion whatever its label.
        exclude_seeds_lps: points whose lesion is dropped.
        progress: optional callback.

    Raises:
        GeometryError: the CT does not overlap the image.
        InputError: as :func:`.segmentation.segment_lesions`; an unknown tracer family.
    """
    notes: list[str] = []
    family = tracer_family(tracer, image.meta.administration.radiopharmaceutical)
    reference = image.image
    u = uptake(image, quantity)
    anatomy = None
    arrays: dict[str, np.ndarray | None] = dict.fromkeys(("hu", "bone", "liver", "cavity", "gas"))
    blood = None
    if ct is not None:
        ct_image = ct.image if isinstance(ct, QuantitativeImage) else ct
        covered = overlap_fraction(reference, ct_image)
        if covered == 0.0:
            raise GeometryError(
                "the CT does not overlap the PET: they are not of the same session, or their "
                "positions are wrong",
                tag="ImagePositionPatient / FrameOfReferenceUID",
                fix="give the CT of the same PET/CT session (same FrameOfReferenceUID), or "
                "run without CT (--physiology off) / with organ masks",
            )
        if covered < 0.9:
            notes.append(
                f"the CT covers {100 * covered:.0f} % of the PET field of view: candidates "
                "outside it are not labelled by the CT rules"
            )
        report(progress, 0.05, "lesions: CT anatomy")
        anatomy = ct_anatomy(ct)
        notes += list(anatomy.notes)
        grid = anatomy.grid
        hu = sitk.GetArrayFromImage(grid)
        arrays["hu"] = on_grid(hu, grid, reference, default=np.nan)
        arrays["bone"] = on_grid(anatomy.bone, grid, reference) >= 0.5
        arrays["liver"] = on_grid(anatomy.liver, grid, reference) >= 0.5
        arrays["cavity"] = on_grid(anatomy.cranial_cavity, grid, reference) >= 0.5
        gas = (hu < -300.0) & anatomy.body & ~anatomy.lung_left & ~anatomy.lung_right
        gas = ndimage.binary_erosion(anatomy.body, iterations=3) & gas
        arrays["gas"] = on_grid(gas, grid, reference) >= 0.5
        blood = on_grid(_mediastinum(anatomy), grid, reference) >= 0.5
    masks_on_grid: dict[str, np.ndarray] = {}
    for name, mask in (organ_masks or {}).items():
        array, note = mask_on_grid(mask, reference, name)
        masks_on_grid[name] = array
        if note:
            notes.append(note)
    liver = next((m for n, m in masks_on_grid.items() if "liver" in n.lower()), None)
    if liver is None:
        liver = arrays["liver"]
    elif anatomy is not None:
        arrays["liver"] = liver
    floor = choose_floor(u.values, reference, u.unit, liver, blood, threshold, notes)
    report(progress, 0.15, "lesions: candidates")
    seg = segment_lesions(
        image,
        method=method,
        threshold=floor["value"] if method != "percist" else None,
        percent=percent,
        prominence=prominence if prominence is not None else floor.get("prominence"),
        liver_mask=_image(liver, reference) if method == "percist" and liver is not None else None,
        min_volume_mL=min_volume_mL,
        include_seeds_lps=include_seeds_lps,
        exclude_seeds_lps=exclude_seeds_lps,
        quantity=quantity,
    )
    report(progress, 0.8, "lesions: physiological uptake")
    labels = sitk.GetArrayFromImage(seg.labels).astype(np.int32)
    include = _seed_labels(include_seeds_lps, reference, labels)
    # PERCIST-style measurability: the candidate's SUVpeak-type reference (highest 1 mL
    # sphere mean in its core), not only its hottest voxel, must reach the floor.
    weak = [
        n
        for n, t in enumerate(seg.lesion_thresholds, start=1)
        if "reference" in t and t["reference"] < floor["value"] and n not in include
    ]
    if weak and threshold is None:
        labels[np.isin(labels, weak)] = 0
        notes.append(
            f"{len(weak)} candidate(s) whose 1 mL peak mean is below the floor "
            f"{floor['value']:.3g} {u.unit} dropped (their maximum alone reached it)"
        )
    verdicts: dict[int, tuple[str, str, str]] = {}
    features = {}
    if family is None:
        source = "none: recognition off (no tracer family" + (
            f" for radiopharmaceutical {image.meta.administration.radiopharmaceutical!r})"
            if tracer in (None, "auto")
            else ")"
        )
        if tracer in (None, "auto"):
            notes.append(
                "physiological uptake NOT recognised: the tracer family is unknown (give "
                "--tracer psma|sstr|fdg)"
            )
    elif masks_on_grid:
        source = organ_masks_source
        for f in candidate_features(u.values, labels, reference, None, arrays["hu"],
                                    arrays["bone"], None, None, None):  # fmt: skip
            features[f.label] = f
            hit = _mask_label(labels == f.label, u.values, masks_on_grid, family)
            if hit:
                verdicts[f.label] = hit
    elif anatomy is not None:
        source = "CT anatomy rules"
        landmarks = Landmarks.from_anatomy(anatomy)
        for f in candidate_features(u.values, labels, reference, landmarks, arrays["hu"],
                                    arrays["bone"], arrays["liver"], arrays["cavity"],
                                    arrays["gas"]):  # fmt: skip
            features[f.label] = f
            hit = classify(f, landmarks, family)
            if hit:
                verdicts[f.label] = hit
    else:
        source = "none: no CT and no organ masks"
        notes.append(
            "physiological uptake NOT recognised: no CT and no organ masks; kidneys, bladder, "
            "salivary glands ... may be reported as lesions (give the CT or organ masks)"
        )
    for label in include & set(verdicts):
        organ = verdicts.pop(label)[0]
        notes.append(f"candidate at an include seed kept as a lesion (rules said {organ})")
    return _split(seg, labels, u.values, verdicts, features, reference, family, source, floor,
                  anatomy, notes)  # fmt: skip


def _image(mask: np.ndarray, reference: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(mask.astype(np.uint8))
    out.CopyInformation(reference)
    return out


def _mask_label(region, values, masks, family):
    """(organ, "mask", reason) when the candidate's core lies in an imported organ mask."""
    peak = float(values[region].max())
    core = region & (values >= 0.7 * peak)
    best = None
    for name, mask in masks.items():
        organ = mask_organ_of(name, family)
        if organ is None or not mask.any():
            continue
        inside = float(mask[core].mean())
        if inside < 0.5:
            continue
        coverage = float(region.sum()) / float(mask.sum())
        if organ in ORGAN_WIDE and coverage < ORGAN_WIDE[organ]:
            continue
        if best is None or inside > best[0]:
            best = (inside, name, coverage)
    if best is None:
        return None
    return best[1], "mask", f"core {100 * best[0]:.0f} % in the organ mask {best[1]!r}"


def _seed_labels(seeds, reference, labels) -> set[int]:
    out = set()
    for point in seeds:
        index = reference.TransformPhysicalPointToIndex(tuple(float(c) for c in point))
        if all(0 <= i < n for i, n in zip(index, reference.GetSize())):
            label = int(labels[index[2], index[1], index[0]])
            if label:
                out.add(label)
    return out


def _split(seg, labels, values, verdicts, features, reference, family, source, floor, anatomy,
           notes) -> LesionDetection:  # fmt: skip
    count = len(seg.lesion_thresholds)
    present = set(np.unique(labels).tolist()) - {0}
    lesion_ids = [n for n in range(1, count + 1) if n not in verdicts and n in present]
    organ_ids = [n for n in range(1, count + 1) if n in verdicts]
    lookup = np.zeros(count + 1, dtype=np.uint16)
    lookup[lesion_ids] = np.arange(1, len(lesion_ids) + 1)
    lesion_labels = sitk.GetImageFromArray(lookup[labels])
    lesion_labels.CopyInformation(reference)
    lookup_p = np.zeros(count + 1, dtype=np.uint16)
    lookup_p[organ_ids] = np.arange(1, len(organ_ids) + 1)
    phys_labels = sitk.GetImageFromArray(lookup_p[labels])
    phys_labels.CopyInformation(reference)
    physiological = []
    for n, label in enumerate(organ_ids, start=1):
        organ, rule, reason = verdicts[label]
        f = features[label]
        physiological.append(
            PhysiologicalCandidate(
                name=f"physiological_{n:03d}",
                organ=organ,
                rule=rule,
                reason=reason,
                features=f.to_json(),
                include_seed_lps_mm=f.peak_lps_mm,
            )
        )
    if physiological:
        listing = ", ".join(p.organ for p in physiological)
        notes.append(f"{len(physiological)} candidate(s) set aside as physiological: {listing}")
    thresholds = tuple(seg.lesion_thresholds[n - 1] for n in lesion_ids)
    seg_notes = [n for n in seg.notes if not n.startswith("threshold raised to the local")]
    clamped = [i + 1 for i, t in enumerate(thresholds) if t.get("clamped")]
    if clamped:
        seg_notes.append(
            "threshold applied above the local background (low contrast) for lesion label(s) "
            f"{clamped}"
        )
    lesions = replace(
        seg,
        labels=lesion_labels,
        names=tuple(f"lesion_{n:03d}" for n in range(1, len(lesion_ids) + 1)),
        lesion_thresholds=thresholds,
        parameters={**seg.parameters, "floor_source": floor.get("source")},
        notes=tuple(notes) + tuple(seg_notes),
    )
    return LesionDetection(
        lesions=lesions,
        physiological=tuple(physiological),
        physiological_labels=phys_labels,
        tracer_family=family,
        organ_source=source,
        floor=floor,
        anatomy=anatomy.to_json() if anatomy is not None else None,
        notes=tuple(notes),
    )
