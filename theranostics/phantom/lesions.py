"""Random but reproducible lesions: sizes, sites, shapes and kinetics, drawn from a seed.

Lesions are spheres or ellipsoids (0.5-50 mL by default) in bone (spine, iliac bones), lymph
nodes (para-aortic, pelvic, mediastinal) or the liver. A candidate is kept only when its
centre and 26 points of its surface lie in tissues its host allows and it keeps 4 mm from
every other lesion; otherwise it is redrawn (and shrunk after many failures).
"""

from __future__ import annotations

import math

import numpy as np

from .anatomy import _T as TISSUE_INDEX
from .anatomy import Anatomy, Ellipsoid, Lesion, RigidTransform, classify_points
from .kinetics import RegionKinetics, Washout
from .presets import SNAP_GRID, LesionSpec

#: Tissues the centre of a lesion of each host must lie in.
_CENTRE = {"bone": ("red_marrow",), "node": ("fat", "muscle"), "liver": ("liver",)}
#: Tissues a lesion of each host may touch.
_ALLOWED = {
    "bone": ("red_marrow", "cortical_bone", "muscle", "fat"),
    "node": ("fat", "muscle", "blood"),
    "liver": ("liver",),
}
_MAX_NODE_ML = 15.0
_SURFACE_DIRS = np.array(
    [
        [x, y, z]
        for x in (-1, 0, 1)
        for y in (-1, 0, 1)
        for z in (-1, 0, 1)
        if (x, y, z) != (0, 0, 0)
    ],
    dtype=float,
)
_SURFACE_DIRS /= np.linalg.norm(_SURFACE_DIRS, axis=1, keepdims=True)


def _candidate_centre(rng: np.random.Generator, host: str) -> np.ndarray:
    if host == "bone":
        if rng.random() < 0.6:
            return np.array([0.0, 80.0, rng.uniform(40.0, 440.0)])
        side = rng.choice([-1.0, 1.0])
        return np.array([side * 95.0, 45.0, 70.0 + rng.uniform(-25.0, 25.0)])
    if host == "node":
        site = rng.integers(3)
        side = rng.choice([-1.0, 1.0])
        if site == 0:  # para-aortic
            return np.array(
                [side * rng.uniform(24.0, 38.0), rng.uniform(35.0, 45.0), rng.uniform(110.0, 240.0)]
            )
        if site == 1:  # pelvic
            return np.array(
                [side * rng.uniform(50.0, 65.0), rng.uniform(-10.0, 10.0), rng.uniform(50.0, 110.0)]
            )
        return np.array(
            [rng.uniform(-8.0, 8.0), rng.uniform(30.0, 40.0), rng.uniform(380.0, 430.0)]
        )  # mediastinal
    # liver: uniform inside 80 % of the liver ellipsoid
    while True:
        u = rng.uniform(-1.0, 1.0, 3)
        if u @ u <= 1.0:
            return np.array([-80.0, -15.0, 225.0]) + 0.8 * u * np.array([90.0, 75.0, 58.0])


def _snap(point: np.ndarray) -> np.ndarray:
    o = np.asarray(SNAP_GRID.origin_mm)
    s = np.asarray(SNAP_GRID.spacing_mm)
    return o + np.round((point - o) / s) * s


def _shape(
    rng: np.random.Generator, centre: np.ndarray, volume_mL: float, ellipsoid: bool
) -> Ellipsoid:
    r = (3.0 * volume_mL * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
    if not ellipsoid:
        return Ellipsoid(tuple(float(c) for c in centre), (r, r, r))
    a = rng.uniform(0.75, 1.33)
    b = rng.uniform(0.75, 1.33)
    axes = (r * a, r * b, r / (a * b))
    rot = RigidTransform(tuple(rng.uniform(-90.0, 90.0, 3))).matrix
    return Ellipsoid(
        tuple(float(c) for c in centre), axes, tuple(tuple(float(v) for v in row) for row in rot)
    )


def _fits(anatomy: Anatomy, shape: Ellipsoid, host: str, placed: list[Lesion]) -> bool:
    allowed = [TISSUE_INDEX[n] for n in _ALLOWED[host]]
    c = np.asarray(shape.centre)
    centre_ok = [TISSUE_INDEX[n] for n in _CENTRE[host]]
    if classify_points(anatomy, c[None, :])[0] not in centre_ok:
        return False
    local = _SURFACE_DIRS * np.asarray(shape.semi_axes)
    if shape.rotation is not None:
        local = local @ np.asarray(shape.rotation)
    if not np.all(np.isin(classify_points(anatomy, c + local), allowed)):
        return False
    r = max(shape.semi_axes)
    return all(
        np.linalg.norm(c - np.asarray(o.shape.centre)) > r + max(o.shape.semi_axes) + 4.0
        for o in placed
    )


def draw_lesions(
    rng: np.random.Generator, spec: LesionSpec, anatomy: Anatomy
) -> tuple[list[Lesion], dict[str, RegionKinetics]]:
    """Draw the lesions of one study and their kinetics.

    Returns the lesions (``lesion_01`` ... largest first) and ``{name: RegionKinetics}``
    where the plateau fraction is the drawn uptake per mL times the lesion's analytic volume.
    """
    n = int(rng.integers(spec.count_range[0], spec.count_range[1] + 1))
    v_min, v_max = spec.volume_range_mL
    volumes = np.geomspace(v_max, v_min, n)
    if n > 2:  # keep the extremes, jitter the ones in between
        volumes[1:-1] *= rng.uniform(0.8, 1.2, n - 2)
    hosts = list(spec.host_weights)
    weights = np.array([spec.host_weights[h] for h in hosts], dtype=float)
    lesions: list[Lesion] = []
    kinetics: dict[str, RegionKinetics] = {}
    for idx, volume in enumerate(volumes, start=1):
        host = str(rng.choice(hosts, p=weights / weights.sum()))
        if host == "node" and volume > _MAX_NODE_ML:
            host = max((h for h in hosts if h != "node"), key=spec.host_weights.get)
        ellipsoid = idx % 2 == 0
        vol = float(volume)
        for attempt in range(2000):
            if attempt and attempt % 400 == 0:
                vol *= 0.8  # crowded site: try a smaller lesion
            centre = _snap(_candidate_centre(rng, host))
            shape = _shape(rng, centre, vol, ellipsoid)
            if _fits(anatomy, shape, host, lesions):
                break
        else:
            raise RuntimeError(f"could not place lesion {idx} ({host}, {vol:.1f} mL)")
        name = f"lesion_{idx:02d}"
        lesions.append(Lesion(name, host, shape))
        uptake = rng.uniform(*spec.uptake_range_percent_per_mL) / 100.0
        kinetics[name] = RegionKinetics(
            (Washout(uptake * shape.volume_mL, float(rng.uniform(*spec.t_eff_range_h))),),
            float(rng.uniform(*spec.uptake_half_life_range_h)),
        )
    return lesions, kinetics
