"""``theranostics plan-rlt``: 177Lu radioligand-therapy activity per cycle and number of
cycles against organ-at-risk limits (calculator mode, or from an earlier cycle's dosimetry)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from ..errors import InputError

_SPEC = "NAME:GY_PER_GBQ:TEFF_H[:SD_GY_PER_GBQ[:SD_TEFF_H]]"


def _float(text: str, what: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(
            f"{what} {text!r} is not a number", tag=option, fix=f"use {option} {_SPEC}"
        ) from None


def parse_structure(spec: str, category: str, option: str):
    """``NAME:GY_PER_GBQ:TEFF_H[:SD_GY_PER_GBQ[:SD_TEFF_H]]`` → StructureInput."""
    from ..planning.rlt_inputs import StructureInput

    parts = spec.split(":")
    if not 3 <= len(parts) <= 5 or not parts[0].strip():
        raise InputError(f"cannot read {spec!r}", tag=option, fix=f"use {option} {_SPEC}")
    values = [_float(p, f"{parts[0]}:", option) for p in parts[1:]]
    values += [0.0] * (4 - len(values))
    return StructureInput(
        name=parts[0].strip(),
        category=category,
        dose_per_activity_Gy_per_GBq=values[0],
        effective_half_life_h=values[1],
        dose_per_activity_sd_Gy_per_GBq=values[2],
        effective_half_life_sd_h=values[3],
    )


def parse_assignments(items: list[str] | None, option: str) -> dict[str, float]:
    """``NAME=VALUE`` items → {NAME: VALUE}; a name given twice is refused."""
    out: dict[str, float] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"cannot read {item!r}", tag=option, fix=f"use {option} NAME=VALUE")
        if name.strip() in out:
            raise InputError(f"{name} given twice", tag=option, fix="give each name once")
        out[name.strip()] = _float(value, f"{name}=", option)
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plan-rlt",
        help="177Lu radioligand therapy: activity per cycle and cycles against OAR limits",
        description="Largest activity per cycle (and number of cycles) keeping every organ's "
        "cumulative BED or absorbed dose under its limit; predicted lesion doses. Gy/GBq, h, "
        "GBq. See docs/planning-rlt.md.",
    )
    p.add_argument("--oar", action="append", default=[], metavar=_SPEC, help="organ at risk")
    p.add_argument("--lesion", action="append", default=[], metavar=_SPEC, help="lesion")
    p.add_argument(
        "--cycles", type=int, help="number of cycles (default: the most at the standard activity)"
    )
    p.add_argument("--standard-activity-GBq", type=float, default=7.4)
    p.add_argument("--max-cycles", type=int, help="upper bound of the cycles search")
    p.add_argument("--risk-factors", action="store_true", help="kidney BED limit 28 Gy")
    p.add_argument("--alpha-beta", action="append", metavar="NAME=VALUE", help="α/β, Gy")
    p.add_argument("--repair-h", action="append", metavar="NAME=VALUE", help="T_rep, h")
    p.add_argument("--limit-bed-Gy", action="append", metavar="NAME=VALUE")
    p.add_argument("--limit-dose-Gy", action="append", metavar="NAME=VALUE")
    p.add_argument("--previous-bed-Gy", action="append", metavar="NAME=VALUE")
    p.add_argument("--from-dosimetry", metavar="RESULTS.json", help="an earlier cycle's result")
    p.add_argument("--activity-step-GBq", type=float, default=0.01, help="rounding step (down)")
    p.add_argument(
        "--confidence-k",
        type=float,
        default=0.0,
        help="solve with OAR Gy/GBq + k standard uncertainties",
    )
    p.add_argument(
        "--allow-implausible",
        action="store_true",
        help="accept values outside the plausibility ranges",
    )
    p.add_argument("--json", action="store_true", help="print the plan JSON")
    p.add_argument("-o", "--output", metavar="PLAN.json", help="save the plan")
    p.set_defaults(func=run)


def _with_previous(structures, previous: dict[str, float]):
    from ..planning.rlt_inputs import normalise_name

    by_key = {normalise_name(k): (k, v) for k, v in previous.items()}
    known = {normalise_name(s.name) for s in structures}
    for key, (name, _) in by_key.items():
        if key not in known:
            raise InputError(
                f"--previous-bed-Gy names {name!r}, which is not planned",
                tag="--previous-bed-Gy",
                fix="use a name given by --oar/--lesion",
            )
    out = []
    for s in structures:
        hit = by_key.get(normalise_name(s.name))
        # A BED given by hand replaces everything delivered before; the previous dose then
        # falls back on it (BED >= D), never on an older, smaller figure.
        out.append(
            s
            if hit is None
            else dataclasses.replace(
                s, previous_bed_Gy=hit[1], previous_dose_Gy=None, previous_bed_sd_Gy=0.0
            )
        )
    return out


def run(args: argparse.Namespace) -> int:
    from ..planning.plan_io import plan_to_dict, save_plan
    from ..planning.rlt import plan_rlt

    structures = [parse_structure(s, "oar", "--oar") for s in args.oar]
    structures += [parse_structure(s, "lesion", "--lesion") for s in args.lesion]
    alpha_beta = parse_assignments(args.alpha_beta, "--alpha-beta")
    notes: list[str] = []
    if args.from_dosimetry:
        from ..planning.rlt_inputs import structures_from_dosimetry

        dosimetry = structures_from_dosimetry(args.from_dosimetry, keep=tuple(alpha_beta))
        if dosimetry.nuclide and dosimetry.nuclide != "Lu-177":
            raise InputError(
                f"the dosimetry is for {dosimetry.nuclide}, not Lu-177",
                path=args.from_dosimetry,
                tag="nuclide",
            )
        structures += list(dosimetry.structures)
        notes += list(dosimetry.notes)
    if not structures:
        raise InputError(
            "no structures", tag="--oar", fix=f"give --oar {_SPEC} or --from-dosimetry"
        )
    structures = _with_previous(
        structures, parse_assignments(args.previous_bed_Gy, "--previous-bed-Gy")
    )
    plan = plan_rlt(
        structures,
        cycles=args.cycles,
        standard_activity_GBq=args.standard_activity_GBq,
        max_cycles=args.max_cycles,
        risk_factors=args.risk_factors,
        alpha_beta_Gy=alpha_beta,
        repair_half_time_h=parse_assignments(args.repair_h, "--repair-h"),
        limit_bed_Gy=parse_assignments(args.limit_bed_Gy, "--limit-bed-Gy"),
        limit_dose_Gy=parse_assignments(args.limit_dose_Gy, "--limit-dose-Gy"),
        activity_step_GBq=args.activity_step_GBq,
        confidence_k=args.confidence_k,
        check_plausibility=not args.allow_implausible,
        notes=notes,
    )
    if args.output:
        save_plan(args.output, plan)
    if args.json:
        json.dump(plan_to_dict(plan), sys.stdout, indent=2, allow_nan=False)
        print()
    else:
        print(format_plan(plan))
        if args.output:
            print(f"plan written to {args.output}")
    return 0


def _pm(value: float | None, sd: float | None, fmt: str = ".2f") -> str:
    if value is None:
        return "-"
    return f"{value:{fmt}}" if not sd else f"{value:{fmt}} ± {sd:{fmt}}"


def format_plan(plan) -> str:
    """A plain-text summary and per-structure table of a plan (± = 1 standard uncertainty)."""
    a, sd = plan.max_activity_per_cycle_GBq, plan.max_activity_per_cycle_sd_GBq
    lines = [
        f"Max activity per cycle: {a:.2f} GBq (rounded down; unrounded "
        f"{plan.max_activity_per_cycle_unrounded_GBq:.3f} ± {sd:.2f} GBq)",
        f"Cycles: {plan.cycles}"
        + (f" at {plan.standard_activity_GBq} GBq" if plan.standard_activity_GBq else " (given)"),
        f"Binding constraint: {plan.binding_constraint}",
        f"Predicted for {plan.predicted_cycles} cycle(s) of {a:.2f} GBq:",
    ]
    header = (
        "structure",
        "cat",
        "Gy/GBq",
        "T_eff h",
        "α/β",
        "limit Gy",
        "D/cycle Gy",
        "D plan Gy",
        "cum. BED Gy",
        "margin Gy",
    )
    rows = [header]
    for s in plan.structures:
        limit = (
            "-"
            if s.limit_Gy is None
            else f"{s.limit_Gy:g} {'BED' if s.limit_quantity == 'bed' else 'D'}"
        )
        rows.append(
            (
                s.name + (" *" if s.binding else ""),
                s.category,
                _pm(s.dose_per_activity_Gy_per_GBq, s.dose_per_activity_sd_Gy_per_GBq, ".3f"),
                _pm(s.effective_half_life_h, s.effective_half_life_sd_h, ".1f"),
                f"{s.alpha_beta_Gy:g}",
                limit,
                _pm(s.absorbed_dose_per_cycle_Gy, s.absorbed_dose_per_cycle_sd_Gy),
                _pm(s.absorbed_dose_Gy, s.absorbed_dose_sd_Gy),
                _pm(s.cumulative_bed_Gy, s.cumulative_bed_sd_Gy),
                _pm(s.margin_Gy, None),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("* binding constraint; ± one standard uncertainty")
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)
