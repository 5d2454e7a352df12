"""``theranostics dose``: absorbed-dose map (Gy) from a TIA map (MBq·h per voxel)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from ..errors import InputError

_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(s):
            return s
    return ""


def read_image(path: str, tag: str):
    """Read a NRRD/NIfTI/MetaImage file with SimpleITK; clear errors for missing/bad files."""
    import SimpleITK as sitk

    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", path=p, tag=tag, fix="check the path")
    try:
        return sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InputError(
            f"cannot read the image ({str(exc).strip().splitlines()[-1]})",
            path=p,
            tag=tag,
            fix="give a NRRD or NIfTI file",
        ) from None


def write_image_atomically(image, path: str) -> None:
    """Write ``image`` to ``path`` via a temporary file in the same folder and os.replace."""
    import SimpleITK as sitk

    p = Path(path)
    suffix = _suffix(p)
    if not suffix:
        raise InputError(
            "unknown output format", path=p, tag="-o", fix=f"use one of {', '.join(_SUFFIXES)}"
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=suffix)
    os.close(fd)
    try:
        sitk.WriteImage(image, tmp, useCompression=True)
        from ..io.output_dir import file_mode

        os.chmod(tmp, file_mode())  # mkstemp gives 0600
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dose",
        help="absorbed-dose map (Gy) from a time-integrated activity map",
        description="Absorbed dose in Gy from a TIA map in MBq·h per voxel (NRRD/NIfTI).",
    )
    p.add_argument("--tia", required=True, help="TIA image, MBq·h per voxel")
    p.add_argument("--nuclide", required=True)
    p.add_argument("--method", choices=("led", "kernel"), default="kernel")
    p.add_argument("--ct", help="CT in HU for density correction (dose to medium)")
    p.add_argument(
        "--grid",
        choices=("activity", "ct"),
        default="activity",
        help="with --ct: compute on the activity grid (default) or the CT grid",
    )
    p.add_argument("--no-photons", action="store_true", help="kernel: electrons and alphas only")
    p.add_argument("--float32", action="store_true", help="single-precision FFTs")
    p.add_argument("-o", "--output", required=True, help="dose image (NRRD/NIfTI), Gy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dose.compute import compute_dose
    from ..errors import InputError as _InputError
    from ..progress import TextProgressBar

    tia = read_image(args.tia, "--tia")
    ct = read_image(args.ct, "--ct") if args.ct else None
    if ct is not None and ct.GetDimension() != 3:
        raise _InputError(
            f"the CT is {ct.GetDimension()}D, a 3D volume is needed",
            path=args.ct,
            tag="--ct",
            fix="give the 3D CT of the TIA's session (NRRD/NIfTI)",
        )
    try:
        dose = compute_dose(
            tia,
            args.nuclide,
            method=args.method,
            ct=ct,
            grid=args.grid,
            photons=not args.no_photons,
            float32=args.float32,
            progress=TextProgressBar(),
        )
    except _InputError as exc:
        if exc.path is None and exc.tag and "TIA" in exc.tag:
            exc.path = args.tia
            exc.args = (exc._compose(),)
        raise
    dose.SetMetaData("units", "Gy")
    write_image_atomically(dose, args.output)
    print(f"dose written to {args.output} (Gy)")
    return 0
