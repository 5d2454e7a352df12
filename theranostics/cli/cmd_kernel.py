"""``theranostics kernel``: print a voxel S-value kernel in mGy/(MBq·s)."""

from __future__ import annotations

import argparse
import json

from ..errors import InputError


def parse_voxel_mm(text: str) -> tuple[float, float, float]:
    """``"4.8"`` or ``"4,4,5"`` → (x, y, z) in mm (validated later by the kernel code)."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise InputError(
            f"voxel size {text!r} is not a number or a comma-separated triple",
            tag="--voxel-mm",
            fix="write e.g. --voxel-mm 4.8 or --voxel-mm 4,4,5",
        ) from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise InputError(
            f"voxel size {text!r} needs one or three values",
            tag="--voxel-mm",
            fix="write e.g. --voxel-mm 4.8 or --voxel-mm 4,4,5",
        )
    from .. import plausibility

    for value in values:
        plausibility.check(
            value, plausibility.SPACING_MM, tag="--voxel-mm", fix="give the voxel size in mm"
        )
    return (values[0], values[1], values[2])


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "kernel",
        help="voxel S-value kernel of a nuclide, mGy/(MBq·s)",
        description="Print the voxel S-value kernel (water, unit density) in mGy/(MBq·s).",
    )
    p.add_argument("--nuclide", required=True, help="e.g. Lu-177, Y-90, Ac-225")
    p.add_argument("--voxel-mm", required=True, help="voxel size X or X,Y,Z in mm")
    p.add_argument("--radius", type=int, default=2, help="largest |offset| printed (default 2)")
    p.add_argument("--no-photons", action="store_true", help="electrons and alphas only")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dose.kernels import voxel_kernel

    voxel = parse_voxel_mm(args.voxel_mm)
    kernel = voxel_kernel(args.nuclide, voxel, photons=not args.no_photons)
    n = max(2, int(args.radius))
    values = {
        f"{i},{j},{k}": kernel.value_at(i, j, k)
        for k in range(-n, n + 1)
        for j in range(-n, n + 1)
        for i in range(-n, n + 1)
    }
    if args.json:
        shape_xyz = list(kernel.shape[::-1])
        print(
            json.dumps(
                {
                    "nuclide": kernel.nuclide,
                    "voxel_mm": list(kernel.voxel_mm),
                    "unit": "mGy/(MBq*s)",
                    "shape": shape_xyz,
                    "photons": not args.no_photons,
                    "values": values,
                }
            )
        )
        return 0
    print(f"# voxel S-values, {kernel.nuclide}, voxel {kernel.voxel_mm} mm, mGy/(MBq*s)")
    print(f"# kernel shape (x, y, z) = {tuple(kernel.shape[::-1])}; offsets i j k along x y z")
    for key, value in values.items():
        i, j, k = key.split(",")
        print(f"{i:>3} {j:>3} {k:>3}  {value:.6e}")
    return 0
