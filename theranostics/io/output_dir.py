"""Output locations: checked before any computation, written whole or not at all.

Every command that writes checks its output location first (:func:`check_output_file`,
:func:`check_output_folder`), so a wrong ``-o`` fails in a second rather than after the whole
computation. Files are written through a temporary file in the same folder and renamed
(:func:`write_bytes_atomically`, :func:`write_text_atomically`); a folder of outputs is
written into a hidden temporary folder beside the target and renamed at the end
(:class:`OutputFolder`), so a killed run leaves only a hidden ``.NAME.partial-*`` folder and
never a folder that looks complete. Created files get the usual mode (``0666`` less the umask)
and folders ``0777`` less the umask, whatever the temporary-file functions gave them.

A folder written by :class:`OutputFolder` holds a marker file :data:`MARKER_NAME`, written
last; an existing non-empty target folder is only replaced when it holds that marker (it is
an earlier output of this project), never when it holds anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError

#: Marker written last into every folder written by :class:`OutputFolder`.
MARKER_NAME = ".theranostics-output.json"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a newly created file normally gets (0666 less the umask)."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The mode a newly created folder normally gets (0777 less the umask)."""
    return 0o777 & ~_umask()


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists():
        if current.parent == current:
            break
        current = current.parent
    return current


def _probe_writable(folder: Path, target: Path, option: str) -> None:
    """Create and remove a file in ``folder``: the only test that also holds for root,
    read-only mounts and ACLs."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".theranostics-probe-")
    except OSError as exc:
        raise OutputError(
            f"cannot write into {folder} ({exc.strerror or exc})",
            path=target,
            tag=option,
            fix="choose a writable location, or fix the folder's permissions",
        ) from None
    os.close(fd)
    os.unlink(probe)


def _check_parent(target: Path, option: str) -> None:
    existing = _nearest_existing(target.parent)
    if not existing.is_dir():
        raise OutputError(
            f"{existing} is a file, so the output cannot be created below it",
            path=target,
            tag=option,
            fix="choose an output path whose parent folders are folders",
        )
    _probe_writable(existing, target, option)


def check_output_file(path: str | Path, *, option: str = "-o") -> Path:
    """Check that ``path`` can be written as a file; raise :class:`OutputError` otherwise.

    An existing file is fine (it is replaced atomically); an existing folder, a parent that
    is a file or an unwritable parent are refused. Nothing is created.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(
            "the output exists and is a folder, a file is needed",
            path=target,
            tag=option,
            fix="give a file name (e.g. inside that folder)",
        )
    if target.exists() and not target.is_file():
        raise OutputError("the output exists and is not a regular file", path=target, tag=option)
    _check_parent(target, option)
    return target


def _is_empty_folder(path: Path) -> bool:
    return not any(path.iterdir())


def check_output_folder(path: str | Path, *, option: str = "-o") -> Path:
    """Check that ``path`` can be written as a whole output folder; raise
    :class:`OutputError` otherwise.

    Accepted: a path that does not exist yet, an empty folder, or an earlier output of this
    project (holds :data:`MARKER_NAME`), which is replaced as a whole at the end. Refused: an
    existing file, a folder holding other files (they would be lost), an unwritable parent.
    Nothing is created.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputError(
            "the output exists and is a file, a folder is needed",
            path=target,
            tag=option,
            fix="give a new folder name, or remove the file",
        )
    if target.is_dir() and not _is_empty_folder(target) and not (target / MARKER_NAME).is_file():
        raise OutputError(
            "the output folder exists and holds files that are not an earlier output of "
            "theranostics (they would be replaced)",
            path=target,
            tag=option,
            fix="give a new or empty folder",
        )
    _check_parent(target, option)
    return target


def check_writable_folder(path: str | Path, *, option: str = "-o") -> Path:
    """Check that ``path`` is (or can be created as) a writable folder; its content is not
    judged (for outputs that add to a folder). Raises :class:`OutputError`; creates nothing."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputError(
            "the output exists and is a file, a folder is needed",
            path=target,
            tag=option,
            fix="give a folder name, or remove the file",
        )
    _check_parent(target / "x", option)
    return target


def _chmod_tree(root: Path) -> None:
    fmode, dmode = file_mode(), folder_mode()
    os.chmod(root, dmode)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), dmode)
        for name in filenames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, fmode)


class OutputFolder:
    """Write a folder of outputs whole, or not at all.

    Use as a context manager: the body writes into :attr:`work` (a hidden temporary folder
    beside the target, same file system); on normal exit the marker is written last, file
    modes are set, an earlier output at the target is moved aside and the temporary folder
    is renamed to the target; on an exception the temporary folder is removed and the target
    is left as it was.

    Args:
        target: the output folder (checked at construction, see :func:`check_output_folder`).
        command: the command name recorded in the marker.
        option: the option name used in error messages.
    """

    def __init__(self, target: str | Path, *, command: str = "", option: str = "-o") -> None:
        self.target = check_output_folder(target, option=option).absolute()
        self.command = command
        self.work: Path | None = None

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.work = Path(
            tempfile.mkdtemp(dir=self.target.parent, prefix=f".{self.target.name}.partial-")
        )
        return self.work

    def final_path(self, path: str | Path) -> Path:
        """Where a path inside :attr:`work` will be once the folder is complete."""
        if self.work is None:
            return Path(path)
        try:
            return self.target / Path(path).absolute().relative_to(self.work)
        except ValueError:
            return Path(path)

    def __exit__(self, exc_type, exc, tb) -> None:
        work = self.work
        if work is None:
            return
        if exc_type is not None:
            shutil.rmtree(work, ignore_errors=True)
            return
        try:
            (work / MARKER_NAME).write_text(
                json.dumps({"command": self.command, "complete": True}, indent=1) + "\n"
            )
            _chmod_tree(work)
            old = None
            if self.target.exists():
                old = Path(
                    tempfile.mkdtemp(dir=self.target.parent, prefix=f".{self.target.name}.old-")
                )
                os.rmdir(old)
                os.replace(self.target, old)
            os.replace(work, self.target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise


def is_complete_output(path: str | Path) -> bool:
    """True when ``path`` is a folder written in full by :class:`OutputFolder`."""
    return (Path(path) / MARKER_NAME).is_file()


@contextlib.contextmanager
def atomic_file(path: str | Path, *, option: str = "-o") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; renamed to ``path`` (mode 0666 less umask)
    when the body returns, removed when it raises."""
    target = check_output_file(path, option=option)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes[-2:]) if target.name.endswith(".nii.gz") else target.suffix
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomically(data: bytes, path: str | Path, *, option: str = "-o") -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    with atomic_file(path, option=option) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomically(text: str, path: str | Path, *, option: str = "-o") -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and a rename."""
    return write_bytes_atomically(text.encode("utf-8"), path, option=option)
