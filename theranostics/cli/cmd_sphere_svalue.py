"""``theranostics sphere-svalue``: self-dose S-value of a uniform sphere."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sphere-svalue",
        help="self-dose S-value of a uniform sphere, mGy/(MBq·s)",
        description="Self-dose S-value of a uniform sphere (0.01 g – 5 kg) in mGy/(MBq·s).",
    )
    p.add_argument("--nuclide", required=True)
    p.add_argument("--mass-g", type=float, required=True, help="sphere mass in g")
    p.add_argument("--density-g-per-mL", type=float, default=1.0, help="density (default 1.0)")
    p.add_argument("--no-photons", action="store_true", help="electrons and alphas only")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dose.svalues import sphere_s_value

    v = sphere_s_value(
        args.nuclide,
        args.mass_g,
        density_g_per_mL=args.density_g_per_mL,
        photons=not args.no_photons,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "nuclide": v.nuclide,
                    "mass_g": v.mass_g,
                    "density_g_per_mL": v.density_g_per_mL,
                    "radius_mm": v.radius_mm,
                    "s_value_mGy_per_MBq_s": v.s_value_mGy_per_MBq_s,
                    "s_value_Gy_per_GBq_h": v.s_value_Gy_per_GBq_h,
                    "absorbed_fraction": v.absorbed_fraction,
                }
            )
        )
    else:
        print(f"{v.s_value_mGy_per_MBq_s:.6e} mGy/(MBq*s)")
    return 0
