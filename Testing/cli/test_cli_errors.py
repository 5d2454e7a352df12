"""The CLI's one error path: input and output-location errors exit 2 with one line naming
file, tag and fix, before any computation; a bug prints one line and the path of a log file
holding the traceback; folder outputs appear whole or not at all."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.cli import main as cli_main
from theranostics.cli.main import main
from theranostics.errors import OutputError
from theranostics.io.output_dir import (
    MARKER_NAME,
    OutputFolder,
    check_output_file,
    check_output_folder,
    is_complete_output,
    write_text_atomically,
)


def _tia_file(path: Path) -> Path:
    image = sitk.GetImageFromArray(np.ones((6, 6, 6), np.float32))
    image.SetSpacing((4.0, 4.0, 4.0))
    sitk.WriteImage(image, str(path))
    return path


def test_nan_option_is_refused_before_running(tmp_path, capsys):
    src = _tia_file(tmp_path / "tia.nrrd")
    code = main(["dose", "--tia", str(src), "--nuclide", "Lu-177", "-o", str(tmp_path / "d.nrrd")])
    assert code == 0
    code = main(["sphere-svalue", "--nuclide", "Lu-177", "--mass-g", "nan"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--mass-g is nan" in err and "Fix:" in err and "Traceback" not in err


def test_tac_output_an_existing_folder_fails_before_any_work(tmp_path, capsys):
    folder = tmp_path / "record"
    folder.mkdir()
    started = time.perf_counter()
    masks = _tia_file(tmp_path / "m.nrrd")
    code = main(["tac", str(tmp_path), "--masks", str(masks), "-o", str(folder)])
    assert code == 2
    assert time.perf_counter() - started < 5.0
    err = capsys.readouterr().err
    assert "is a folder, a file is needed" in err and str(folder) in err and "Fix:" in err


def test_dosimetry_output_an_existing_file_fails_first(tmp_path, capsys):
    existing = tmp_path / "out"
    existing.write_text("not a folder")
    masks = _tia_file(tmp_path / "m.nrrd")
    code = main(["dosimetry", str(tmp_path), "--masks", str(masks), "-o", str(existing)])
    assert code == 2
    err = capsys.readouterr().err
    assert "is a file, a folder is needed" in err and "[tag: -o]" in err
    assert existing.read_text() == "not a folder"


def test_output_below_a_file_and_in_a_read_only_place_are_refused(tmp_path, capsys):
    src = _tia_file(tmp_path / "tia.nrrd")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["dose", "--tia", str(src), "--nuclide", "Lu-177", "-o", str(blocker / "d.nrrd")])
    assert code == 2
    assert "is a file, so the output cannot be created below it" in capsys.readouterr().err
    # /proc refuses new files even to root: a real read-only location
    code = main(["dose", "--tia", str(src), "--nuclide", "Lu-177", "-o", "/proc/d.nrrd"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot write into /proc" in err and "Fix:" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_refused(tmp_path, capsys):
    src = _tia_file(tmp_path / "tia.nrrd")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code = main(["dose", "--tia", str(src), "--nuclide", "Lu-177", "-o", str(ro / "d.nrrd")])
    finally:
        ro.chmod(0o755)
    assert code == 2
    assert "cannot write into" in capsys.readouterr().err


def test_folder_holding_other_files_is_not_replaced(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("precious")
    with pytest.raises(OutputError, match="not an earlier output"):
        check_output_folder(folder)
    check_output_folder(tmp_path / "new")  # a new folder is fine, nothing created
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty")


def test_output_folder_is_renamed_whole_and_replaces_an_earlier_output(tmp_path):
    target = tmp_path / "out"
    with OutputFolder(target, command="test") as work:
        (work / "a.json").write_text("{}")
        assert not target.exists()
    assert is_complete_output(target) and (target / "a.json").is_file()
    with OutputFolder(target, command="test") as work:
        (work / "b.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == sorted([MARKER_NAME, "b.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    mode = stat.S_IMODE((target / "b.json").stat().st_mode)
    assert mode == 0o666 & ~_umask()


def test_a_failing_run_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), OutputFolder(target) as work:
        (work / "half.nrrd").write_bytes(b"x")
        raise RuntimeError("midway")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_run_leaves_nothing_that_looks_complete(tmp_path):
    target = tmp_path / "out"
    script = (
        "import os, signal, sys\n"
        "from theranostics.io.output_dir import OutputFolder\n"
        f"with OutputFolder({str(target)!r}) as work:\n"
        "    for k in range(7):\n"
        "        (work / f'map{k}.nrrd').write_bytes(b'x' * 100)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert all(p.name.startswith(".out.partial-") for p in leftovers)
    assert not any(is_complete_output(p) for p in leftovers)


def test_atomic_file_gets_the_usual_mode_and_refuses_a_folder(tmp_path):
    path = write_text_atomically("hello", tmp_path / "a.txt")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    with pytest.raises(OutputError):
        check_output_file(tmp_path)


def test_a_bug_prints_one_line_and_a_log_with_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("THERANOSTICS_LOG_DIR", str(tmp_path / "logs"))
    parser = cli_main.build_parser()
    args = parser.parse_args(["sphere-svalue", "--nuclide", "Lu-177", "--mass-g", "1"])

    def broken(_args):
        return {}["missing key"]

    monkeypatch.setattr(cli_main, "build_parser", lambda: _Fixed(parser, args, broken))
    code = main(["sphere-svalue", "--nuclide", "Lu-177", "--mass-g", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "internal error (KeyError" in err
    logs = list((tmp_path / "logs").iterdir())
    assert len(logs) == 1 and str(logs[0]) in err
    assert "Traceback (most recent call last)" in logs[0].read_text()


def test_missing_masks_file_fails_before_the_study_is_loaded(tmp_path, capsys):
    started = time.perf_counter()
    code = main(["tac", str(tmp_path), "--masks", str(tmp_path / "none.nrrd")])
    assert code == 2 and time.perf_counter() - started < 5.0
    err = capsys.readouterr().err
    assert "none.nrrd: file not found (no such file or folder) [tag: --masks]" in err


def test_negative_threshold_and_zero_calibration_are_refused_first(tmp_path, capsys):
    image = _tia_file(tmp_path / "pet.nrrd")
    code = main(["lesions", str(image), "--threshold", "-1", "-o", str(tmp_path / "o")])
    assert code == 2
    assert "--threshold is -1; it cannot be negative" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    code = main(["tac", str(tmp_path), "--masks", str(image), "--calibration-cps-per-MBq", "0"])
    assert code == 2
    assert "must be greater than 0" in capsys.readouterr().err


def test_missing_input_file_is_a_clean_error(tmp_path, capsys):
    code = main(
        ["dose", "--tia", str(tmp_path / "none.nrrd"), "--nuclide", "Lu-177", "-o", "x.nrrd"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "none.nrrd" in err and "Traceback" not in err


def test_folder_command_output_paths_name_the_final_folder(tmp_path, capsys, monkeypatch):
    parser = cli_main.build_parser()
    out = tmp_path / "resp"
    a, b = _tia_file(tmp_path / "a.nrrd"), _tia_file(tmp_path / "b.nrrd")
    args = parser.parse_args(["response", str(a), str(b), "-o", str(out)])

    def writes(a):
        folder = Path(a.output)
        (folder / "response.json").write_text(json.dumps({"written": str(folder / "x.csv")}))
        print(f"written to {folder}")
        return 0

    monkeypatch.setattr(cli_main, "build_parser", lambda: _Fixed(parser, args, writes))
    assert main(["response", str(a), str(b), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"written to {out}" in printed and ".partial-" not in printed
    assert json.loads((out / "response.json").read_text())["written"] == str(out / "x.csv")


class _Fixed:
    """A parser that returns prepared arguments with another command function."""

    def __init__(self, parser, args, func) -> None:
        self.parser, self.args, self.func = parser, args, func

    def parse_args(self, argv):
        self.args.func = self.func
        return self.args


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_folder_command_that_fails_midway_leaves_nothing(tmp_path, capsys):
    """lesions starts (its output folder is being written) and refuses the image's units:
    exit 2, neither the target nor a partial folder nor a temporary file remains."""
    image = _tia_file(tmp_path / "counts.nrrd")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["lesions", str(image), "-o", str(tmp_path / "out")]) == 2
    assert "activity concentration" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
