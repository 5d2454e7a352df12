"""``theranostics demo``: the synthetic study through every pipeline stage, as an HTML report."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    from ..phantom.presets import PRESETS, SIZES

    p = sub.add_parser(
        "demo",
        help="generate the synthetic study once (cached), run every pipeline stage, write an "
        "HTML report",
    )
    p.add_argument("--cache", default=".cache/phantom", help="study cache (default .cache/phantom)")
    p.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--preset", choices=sorted(PRESETS), default="psma-lu177")
    p.add_argument("--size", choices=sorted(SIZES), default="standard")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..phantom.generate import PhantomConfig
    from ..progress import TextProgressBar

    started = time.perf_counter()
    config = PhantomConfig(seed=args.seed, preset=args.preset, size=args.size)
    path = run_demo(args.out, args.cache, config, progress=TextProgressBar())
    print(f"demo finished in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"report: {path.resolve()}")
    return 0
