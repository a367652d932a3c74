"""Which files an ingest considers, and reading one whole file only while it holds still."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ingest.errors import FileChanging, UnreadablePdf
from ingest.results import FAILED_OUTCOME, FileResult

_IGNORED_PREFIXES = (".", "~$")
_IGNORED_SUFFIXES = (".part", ".crdownload", ".tmp", ".download", ".partial")


def is_temporary_name(name: str) -> bool:
    """An editor's temp or lock file, a hidden file or a partial download."""
    return name.startswith(_IGNORED_PREFIXES) or name.lower().endswith(_IGNORED_SUFFIXES)


def is_candidate_name(name: str) -> bool:
    """PDF by name, and not an editor temp file or a partial download."""
    return not is_temporary_name(name) and name.lower().endswith(".pdf")


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[FileResult], int]:
    """Expand files and folders (recursively) into PDF files to consider.

    Returns the files (absolute, de-duplicated, in a stable order), failures for arguments that do
    not exist, and how many non-PDF files inside folders were skipped. A file named explicitly is
    taken whatever its name: its content decides.
    """
    found: dict[str, Path] = {}
    failures: list[FileResult] = []
    skipped = 0
    for arg in paths:
        path = Path(os.path.abspath(arg))
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if is_candidate_name(name):
                        found.setdefault(os.path.join(root, name), Path(root, name))
                    else:
                        skipped += 1
        elif path.exists():
            found.setdefault(str(path), path)
        else:
            failures.append(FileResult(str(path), FAILED_OUTCOME, reason="no such file or folder"))
    return list(found.values()), failures, skipped


def read_stable(path: Path) -> tuple[bytes, os.stat_result]:
    """Read a whole file, refusing one whose size or mtime moves while it is read."""
    before = path.stat()
    if not stat.S_ISREG(before.st_mode):
        raise UnreadablePdf("not a regular file")
    data = path.read_bytes()
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(
        data
    ) != after.st_size:
        raise FileChanging("the file changed while it was read: still being copied? try again")
    return data, after


def os_reason(err: OSError) -> str:
    if isinstance(err, PermissionError):
        return "permission denied: the file is not readable by this user"
    if isinstance(err, FileNotFoundError):
        return "no such file or folder (moved or deleted while ingesting?)"
    if isinstance(err, IsADirectoryError):
        return "is a folder"
    return f"could not read: {err.strerror or err}"
